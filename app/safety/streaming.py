"""Streaming an answer without ever sending what the output guard would mask.

`guard_output` masks personal data and credentials in the finished answer; the tokens
streamed before it must not carry them in clear. The stream keeps the whole raw text,
masks it again on every token, and sends the masked text up to a cut that nothing still
being written can reach back across:
- the last word is held (an address or a key may not be complete yet); a pattern without
  spaces that lies before the cut is complete, so it is masked;
- so is a run that a pattern with spaces may still extend: digits that may be a card or
  phone number, a secret's name before its value (`password:`), a PEM header.
What is held goes out when the answer is final. A mask that reaches back into what was
sent (it never should) stops the stream: the final answer is what the client keeps.
"""

from __future__ import annotations

import re

from app.safety.pii import redact
from app.safety.secrets import PROSE_SECRET_NAMES

_LAST_SPACE = re.compile(r"\s(?=\S*$)")
# What the text before the cut may end with and a later token could still turn into a mask.
_MAY_CONTINUE = re.compile(
    r"(?:[\d(+][\d()+\-./ ]*"  # a number: a card or a phone number may go on after the space
    rf"|(?i:\b(?:{PROSE_SECRET_NAMES})\b[\s=:]*)"  # a value may follow
    r"|-----BEGIN[^\n]*)$"  # a PEM header
)


def safe_cut(masked: str) -> int:
    """Where the masked text may be cut: the text before it cannot change any more."""
    last_space = _LAST_SPACE.search(masked)
    cut = last_space.start() if last_space else 0
    while cut > 0 and (risky := _MAY_CONTINUE.search(masked, 0, cut)) is not None:
        cut = risky.start()
    return cut


class RedactedStream:
    def __init__(self) -> None:
        self._raw = ""
        self._sent = ""

    def feed(self, text: str) -> str:
        """Add a token; the masked text that can be sent now (often empty)."""
        self._raw += text
        masked, _ = redact(self._raw)
        cut = safe_cut(masked)
        if cut <= len(self._sent) or not masked.startswith(self._sent):
            return ""
        new, self._sent = masked[len(self._sent):cut], masked[:cut]
        return new

    def rest(self) -> str:
        """At the end of the answer: the masked text not sent yet."""
        masked, _ = redact(self._raw)
        if not self._raw or not masked.startswith(self._sent):
            return ""
        new, self._sent = masked[len(self._sent):], masked
        return new
