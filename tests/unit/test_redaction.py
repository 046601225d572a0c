"""The one secret pattern set: each kind of secret masked, the context kept, ordinary text untouched."""

import pytest

from app.safety.secrets import REDACTED, mask_text, mask_value

R = REDACTED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connecting to postgresql://chatbot:s3cr3t-pw@db.internal:5432/chatbot",
         f"connecting to postgresql://chatbot:{R}@db.internal:5432/chatbot"),
        ("redis://:hunter2@cache:6379/0 is down", f"redis://:{R}@cache:6379/0 is down"),
        ("postgres://u:p@ss@host/db", f"postgres://u:{R}@host/db"),  # the last @ ends the password
        ('settings {"password": "hunter2", "user": "bob"}', f'settings {{"password": "{R}", "user": "bob"}}'),
        ("kwargs {'api_key': 'abc123', 'n': 1}", f"kwargs {{'api_key': '{R}', 'n': 1}}"),
        ('{"db_password":"x y z"}', f'{{"db_password":"{R}"}}'),
        ("GET /ws?token=abcdef123&lang=en", f"GET /ws?token={R}&lang=en"),
        ("secret=shh and PASSWORD='a b'", f"secret={R} and PASSWORD='{R}'"),
        ("api-key: abc123, retrying", f"api-key: {R}, retrying"),
        ("Authorization: Bearer eyJhbGciOi.abc.def", f"Authorization: {R}"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: {R}"),
        ("calling with sk-proj-abcdefghijkl1234", f"calling with {R}"),
        ("key cb_0123abcd_AbCdEfGhIjKlMnOpQrStUvWx refused", f"key {R} refused"),
        ("pinecone pcsk_4Abc12_DEFghiJKLmnoPQRstuVWXyz rejected", f"pinecone {R} rejected"),
        ("google AIzaSyA1234567890abcdefghijklmnopqrs failed", f"google {R} failed"),
        ("aws AKIAABCDEFGHIJKLMNOP", f"aws {R}"),
    ],
)
def test_each_kind_of_secret_is_masked_and_its_context_kept(text, expected):
    assert mask_text(text) == expected
    assert mask_text(expected) == expected  # masking again changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://postgres@127.0.0.1:5432/postgres",  # no password
        "http://127.0.0.1:8080/health",
        "max_tokens=512 total_tokens: 7 token_count=3",
        "request POST /chat 200",
        '{"password": "", "token": null}',  # nothing to hide
        "the task-runner skipped monkey=3",
    ],
)
def test_text_without_secrets_is_left_alone(text):
    assert mask_text(text) == text


def test_structures_mask_secret_named_fields_whole_and_strings_inside():
    masked = mask_value({"password": "pw", "headers": {"Authorization": "Bearer abc.def"},
                         "dsn": "postgresql://u:pw@h/db", "items": ["sk-abcdefghijkl", 3], "tokens": 512,
                         "x-api-key": 12345, "nested": ("AIzaSyA1234567890abcdefghijklm",), "ok": True})
    assert masked == {"password": R, "headers": {"Authorization": R}, "dsn": f"postgresql://u:{R}@h/db",
                      "items": [R, 3], "tokens": 512, "x-api-key": R, "nested": [R], "ok": True}


def test_objects_are_masked_as_they_would_print():
    class Config:
        def __str__(self):
            return "Config(url=redis://:pw@cache:6379)"

    config = Config()
    assert mask_value({"config": config}) == {"config": f"Config(url=redis://:{R}@cache:6379)"}
    assert mask_value([1.5, None, "plain"]) == [1.5, None, "plain"]


def test_the_tool_call_ledger_and_the_guardrails_use_the_same_patterns():
    from app.ledgers.tool_calls import mask_secrets
    from app.safety.pii import redact

    # The ledger keeps its own placeholder.
    assert mask_secrets({"q": "use pcsk_4Abc12_DEFghiJKLmnoPQRstu", "dsn": "redis://:pw@cache"}) == {
        "q": "use ***", "dsn": "redis://:***@cache"}
    text, found = redact("my key is AIzaSyA1234567890abcdefghijklmnopqrs")
    assert text == "my key is [SECRET]" and found == ["SECRET"]
    assert redact("How do I send a Bearer token?")[0] == "How do I send a Bearer token?"  # prose stays
