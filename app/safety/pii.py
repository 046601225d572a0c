"""Personal data and credentials: masked in what users send and in what the model answers.

Emails, phone numbers (as Google's libphonenumber reads them), card numbers (by their Luhn
checksum) and secrets (the shapes of app/safety/secrets.py, and named values such as
`password: ...`) become `[EMAIL]`, `[PHONE]`, `[CARD]`, `[SECRET]`.
"""

from __future__ import annotations

import re

import phonenumbers

from app.safety.secrets import PROSE_SECRET_NAMES, SECRET_TOKEN

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
# The key shapes are the logs' (app.safety.secrets); in prose, a named value needs 6+ characters.
_SECRET = re.compile(SECRET_TOKEN + rf"|(?i:\b(?:{PROSE_SECRET_NAMES})\s*[=:]\s*)[^\s,;]{{6,}}")


def _luhn(digits: str) -> bool:
    total = 0
    for n, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if n % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def redact(text: str) -> tuple[str, list[str]]:
    """The text with personal data and credentials replaced, and what kinds were found."""
    found: list[str] = []

    def replace(kind: str):
        def sub(match: re.Match) -> str:
            found.append(kind)
            return f"[{kind}]"
        return sub

    text = _SECRET.sub(replace("SECRET"), text)
    text = _EMAIL.sub(replace("EMAIL"), text)

    def card(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append("CARD")
            return "[CARD]"
        return match.group(0)

    text = _CARD.sub(card, text)
    # Phone numbers as libphonenumber reads them (international, or US/UK-style national).
    for region in ("US", "GB"):
        matches = list(phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID))
        for match in reversed(matches):
            found.append("PHONE")
            text = text[:match.start] + "[PHONE]" + text[match.end:]
    return text, found
