"""The token estimate for text no tokenizer counts here: about four characters a token.

Remote providers' tokenizers (tiktoken) fetch their tables from the internet, so the
service estimates their prompts, and usage a provider does not report, with this.
"""

from __future__ import annotations


def estimate_tokens(text: str) -> int:
    return len(text) // 4 + 1
