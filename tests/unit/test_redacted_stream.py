"""The answer stream never carries what the output guard masks, whatever the tokens' split,
and plain text streams at once (one word behind)."""

import random

import pytest

from app.safety.pii import redact
from app.safety.streaming import RedactedStream

SECRETS = [
    ("Write to chatbot@pg-standby.internal for access.", "chatbot@pg-standby.internal"),
    ("Pay with 4111 1111 1111 1111 before Friday.", "4111 1111 1111 1111"),
    ("Call +44 20 7946 0958 after nine.", "7946 0958"),
    ("Log in with password: hunter22 then rotate it.", "hunter22"),
    ("Use the key sk-proj-abcdefghijklmnop1234 for the demo.", "abcdefghijklmnop1234"),
    ("It starts with -----BEGIN RSA PRIVATE KEY----- on the first line.", "BEGIN RSA PRIVATE KEY"),
]


def _tokens(text: str, rng: random.Random) -> list[str]:
    """The text in pieces of 1-6 characters, as a model might write it."""
    pieces, i = [], 0
    while i < len(text):
        n = rng.randint(1, 6)
        pieces.append(text[i:i + n])
        i += n
    return pieces


@pytest.mark.parametrize(("sentence", "secret"), SECRETS)
def test_no_prefix_of_the_stream_shows_a_secret(sentence, secret):
    text = f"Here is what the runbook says about it. {sentence} That is all there is to it."
    assert secret not in redact(text)[0]  # the guard masks it in the final answer
    for seed in range(30):
        stream, sent = RedactedStream(), ""
        for token in _tokens(text, random.Random(seed)):
            sent += stream.feed(token)
            assert secret not in sent and secret.split()[0] not in sent.split()[-1:], (seed, sent)
        sent += stream.rest()
        assert sent == redact(text)[0]


def test_plain_text_streams_as_soon_as_a_word_is_complete():
    stream, sent = RedactedStream(), []
    for word in "Backups run every hour and are kept for thirty days.".split():
        sent.append(stream.feed(word))  # a word is held until what follows it shows it is complete
        sent.append(stream.feed(" "))
    assert sent[:4] == ["", "Backups", "", " run"]
    assert "".join(sent) + stream.rest() == "Backups run every hour and are kept for thirty days. "
