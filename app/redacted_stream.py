"""Streaming an answer without ever sending what the output guard would mask.

`guard_output` masks personal data and credentials in the finished answer; the tokens
streamed before it must not carry them in clear. The stream keeps the whole raw text,
masks it again on every token, and sends only the masked text that lies more than
`HOLD_CHARS` before the end, cut at a space. A pattern without spaces (an address, a key,
a token) that starts before the cut also ends before it, complete, so it is masked; the
patterns with spaces (a card or phone number, `password: ...`, a PEM header) are shorter
than the hold, so one still being written lies in the held part. What is held goes out
when the answer is final.
"""

from __future__ import annotations

from app.guardrails import redact

HOLD_CHARS = 48  # longer than any pattern with spaces the guard masks (a PEM header: 35)


class RedactedStream:
    def __init__(self) -> None:
        self._raw = ""
        self._sent = ""

    def feed(self, text: str) -> str:
        """Add a token; the masked text that can be sent now (often empty)."""
        self._raw += text
        masked, _ = redact(self._raw)
        limit = len(masked) - HOLD_CHARS
        cut = max(masked.rfind(" ", 0, limit), masked.rfind("\n", 0, limit)) if limit > 0 else -1
        if cut <= len(self._sent) or not masked.startswith(self._sent):
            return ""  # nothing new is safe yet, or a mask reached back into the sent part: wait
        new, self._sent = masked[len(self._sent):cut], masked[:cut]
        return new

    def rest(self) -> str:
        """At the end of the answer: the masked text not sent yet."""
        masked, _ = redact(self._raw)
        if not self._raw or not masked.startswith(self._sent):
            return ""  # the final answer (its own event) is what the client keeps
        new, self._sent = masked[len(self._sent):], masked
        return new
