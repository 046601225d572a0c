"""The usage ledger on SQLite and on PostgreSQL: every call recorded, priced and reported."""

import datetime as dt

import pytest

from app.ledgers.tables import llm_usage
from app.ledgers.usage import ModelCall, UsageLedger, parse_prices
from app.settings import ConfigurationError

DAY1 = dt.datetime(2026, 11, 10, 12, tzinfo=dt.UTC).timestamp()
DAY2 = dt.datetime(2026, 11, 11, 9, tzinfo=dt.UTC).timestamp()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'usage.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    ledger = UsageLedger(url, parse_prices('{"house-model": [0.001, 0.002]}'))
    ledger._db.execute(llm_usage.delete())  # the PostgreSQL database is shared by the test run
    yield ledger
    ledger.close()


def test_calls_are_priced_and_reported_per_day(ledger):
    ledger.record(ModelCall("openai", "gpt-4o-mini", "answered", 1000, 500, 812.5, "conv-1"), at=DAY1)
    ledger.record(ModelCall("openai", "gpt-4o-mini", "retried", latency_ms=20.0), at=DAY1)
    ledger.record(ModelCall("azure", "house-model", "answered", 2000, 1000, 900.0), at=DAY2)
    ledger.record(ModelCall("local", "gemma-3-270m", "answered", 400, 100, 1500.0, estimated=True), at=DAY2)
    day1, day2 = ledger.report("2026-11-10", "2026-11-11")
    assert day1 == {"date": "2026-11-10", "prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500,
                    "cost_usd": pytest.approx(1000 / 1000 * 0.00015 + 500 / 1000 * 0.0006), "calls": 2,
                    "failed_calls": 1}
    assert day2["total_tokens"] == 3500 and day2["cost_usd"] == pytest.approx(2 * 0.001 + 1 * 0.002)  # local is free
    assert ledger.report("2026-11-11", "2026-11-11") == [day2]
    providers = {(r["provider"], r["model"]): r for r in ledger.by_provider("2026-11-10", "2026-11-11")}
    assert providers[("openai", "gpt-4o-mini")]["calls"] == 2 and providers[("local", "gemma-3-270m")]["cost_usd"] == 0


def test_a_bad_price_table_is_a_start_up_error():
    with pytest.raises(ConfigurationError, match="LLM_PRICES"):
        parse_prices("gpt-4: cheap")
    assert parse_prices("")["gpt-4"] == (0.03, 0.06)


def test_outcomes_and_the_costliest_conversations(ledger):
    ledger.record(ModelCall("azure", "house-model", "answered", 1000, 500, 10.0, "cheap"), at=DAY1)
    ledger.record(ModelCall("azure", "house-model", "failed", 4000, 0, 10.0, "dear"), at=DAY1)
    ledger.record(ModelCall("azure", "house-model", "answered", 4000, 1000, 10.0, "dear"), at=DAY2)
    ledger.record(ModelCall("local", "gemma-3-270m", "answered", 9000, 900, 10.0, "free"), at=DAY2)
    outcomes = ledger.by_outcome("2026-11-01", "2026-11-30")
    assert outcomes["failed"] == {"calls": 1, "cost_usd": pytest.approx(0.004)}
    assert outcomes["answered"]["calls"] == 3
    top = ledger.top_conversations("2026-11-01", "2026-11-30", limit=2)
    assert [(r["conversation_id"], r["calls"]) for r in top] == [("dear", 2), ("cheap", 1)]
    assert top[0]["cost_usd"] == pytest.approx(0.004 + 0.004 + 0.002)
