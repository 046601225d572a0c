"""The words of a text, as the service compares texts without a model: one rule, one stop list.

Used where answers and passages are matched word for word: the extractive model's
sentence ranking, the citation fallback, and the lexical answer evaluators.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i if in is it its may my of on or "
    "should so that the their then there these this to was were what when where which who why will "
    "with you your".split()
)


def words(text: str) -> list[str]:
    """The lower-cased words of a text, in order."""
    return WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """The words that carry meaning: every word but the stop words."""
    return {w for w in words(text) if w not in STOPWORDS}
