"""`chatbot eval report` opened in a real browser: headless Chromium renders its tables and plots."""

import datetime as dt
import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from app.cli import cli

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium: apt-get install chromium (make test does)")


def _result(at: dt.datetime, hit5: float, relevance: float) -> dict:
    return {"kind": "search", "at": at.isoformat(timespec="seconds"), "dataset": "evals/datasets/sample_kb.jsonl",
            "summary": {"hit@1": hit5 - 0.1, "hit@5": hit5, "mrr": hit5 - 0.05, "ndcg@10": hit5 - 0.04,
                        "context_relevance": relevance},
            "worst": [{"question": "Which <b>platform</b> runs intent-clf?", "relevant": ["service-catalog"],
                       "hit@5": 0.0, "mrr": 0.0, "context_relevance": 0.0,
                       "passages": [{"document_id": "model-registry", "section": "Versions", "text": "MLflow ..."}]}]}


def test_the_report_renders_its_plots_and_tables_in_a_browser(data_dir_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "evals" / "results"
    results.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC)
    for n, (days_ago, hit5, relevance) in enumerate([(9, 0.2, 0.1), (5, 0.8, 0.6), (1, 0.95, 0.78)]):
        (results / f"search-{n}.json").write_text(json.dumps(_result(now - dt.timedelta(days=days_ago), hit5,
                                                                     relevance)))
    (results / "broken.json").write_text("{not json")  # skipped, not fatal
    made = CliRunner().invoke(cli, ["eval", "report", "--days", "7"])
    assert made.exit_code == 0, made.output
    assert "2 evaluation runs" in made.output  # the 9-day-old run is outside the period
    page = next((tmp_path / "reports").glob("quality-*.html"))

    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert dom.count("<svg") == 1 and "search: sample_kb" in dom
    # The latest run beside the period's first: 0.95 against 0.80, a rise.
    assert '0.950</td>' in dom and "+0.150" in dom
    # Text from results is escaped, never markup.
    assert "Which &lt;b&gt;platform&lt;/b&gt; runs intent-clf?" in dom

    shot = tmp_path / "report.png"
    subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    # Drawn, not blank: the plot's lines and the tables put dark pixels on the white page.
    assert (pixels < 128).mean() > 0.005 and pixels.std() > 10
