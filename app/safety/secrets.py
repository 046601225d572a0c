"""The one set of secret patterns: what logs, the tool-call ledger and answers must never show.

`mask_text` masks secrets in a string; `mask_value` masks a structure (dicts, lists) as
well, where a field named like a secret (`password`, `api_key`, `token`, ...) is masked
whatever its value. Where a secret sits in context, the context stays so that a line
still says what it was about: `postgresql://user:[REDACTED]@host`, `"password": "[REDACTED]"`,
`api_key=[REDACTED]`. A secret recognisable by its own shape (`sk-...`, `pcsk_...`,
`AIza...`, `cb_<prefix>_<secret>`, a bearer token) is masked whole.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

# Secrets recognisable by their shape alone (no context needed): also what guardrails
# mask in messages and answers, so no pattern here may match ordinary prose.
SECRET_TOKEN = (
    r"(?:\b(?:sk-[A-Za-z0-9_-]{8,}"  # OpenAI (sk-..., sk-proj-...)
    r"|cb_[0-9a-f]{8}_[A-Za-z0-9_-]{8,}"  # this service's API keys
    r"|pcsk_[A-Za-z0-9_-]{10,}"  # Pinecone
    r"|AIza[0-9A-Za-z_-]{20,}"  # Google
    r"|AKIA[0-9A-Z]{16}\b"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|xox[abpr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"  # JWT
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----)"
)
# Names whose value is a secret: a field or parameter *ending* in one of these
# (`db_password`, `x-api-key`, `refresh_token`), not `max_tokens` or `token_count`.
SECRET_NAME_WORDS = (
    r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|(?<![A-Za-z])key"
    r"|credentials?|authorization|cookie)"
)
SECRET_NAME = re.compile(rf"(?i:{SECRET_NAME_WORDS})$")
# In prose (messages, answers), the names that announce a secret value: `password: ...`.
PROSE_SECRET_NAMES = r"api[_ -]?key|secret|password|passwd|access[_ -]?token"
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
# An authorization value keeps its scheme word with the secret (`Basic dXNl...`).
_BARE = r"(?:(?i:basic|bearer|digest|token)\s+)?[^\s,;&'\"<>(){}\[\]]+"

# In order; each masks its `secret` group and keeps the rest of the match.
SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # The password of a URL (`scheme://user:pw@host`, `redis://:pw@host`); the last `@` ends it.
    re.compile(r"(?P<keep>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:)(?P<secret>[^\s/?#]+)(?=@)"),
    re.compile(rf"(?P<keep>)(?P<secret>{SECRET_TOKEN}|(?i:\bbearer\s+)[^\s'\"]+)"),
    # A quoted name, JSON or Python style: "password": "...", 'api_key': '...'.
    re.compile(rf"(?P<keep>([\"'])[\w.-]*?{SECRET_NAME_WORDS}\2\s*[:=]\s*)(?P<secret>{_QUOTED}|{_BARE})",
               re.IGNORECASE),
    # A bare name: password=..., token: ..., ?api_key=...&, PASSWORD="...".
    re.compile(rf"(?P<keep>\b[\w.-]*?{SECRET_NAME_WORDS}\s*[:=]\s*)(?P<secret>{_QUOTED}|{_BARE})",
               re.IGNORECASE),
)


def _masker(replacement: str):
    def sub(match: re.Match[str]) -> str:
        secret = match.group("secret")
        if secret[:1] in "\"'" and len(secret) >= 2 and secret[-1] == secret[0]:
            if len(secret) == 2:  # an empty string hides nothing
                return match.group(0)
            return f"{match.group('keep')}{secret[0]}{replacement}{secret[0]}"
        if secret in ("None", "null", replacement):
            return match.group(0)
        return match.group("keep") + replacement

    return sub


_SUBS = {REDACTED: _masker(REDACTED)}


def mask_text(text: str, replacement: str = REDACTED) -> str:
    """The text with every secret replaced (the context around it kept)."""
    sub = _SUBS.get(replacement) or _masker(replacement)
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(sub, text)
    return text


def mask_value(value: Any, name: str = "", replacement: str = REDACTED) -> Any:
    """A structure with secret-named fields masked whole and secrets in its strings masked.

    Dicts, lists and tuples are copied; numbers, booleans and None stay as they are; any
    other object is masked through its `str` (as it would be logged) if that shows a secret.
    """
    if isinstance(value, dict):
        return {k: mask_value(v, str(k), replacement) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(v, name, replacement) for v in value]
    if name and SECRET_NAME.search(name) and value not in (None, ""):
        return replacement
    if isinstance(value, str):
        return mask_text(value, replacement)
    if value is None or isinstance(value, bool | int | float):
        return value
    shown = str(value)
    masked = mask_text(shown, replacement)
    return masked if masked != shown else value
