"""The weekly quality report (runbook: quality_report.py): one self-contained HTML file.

From the results under `evals/results/` of the last N days and the users' feedback: each
metric over time (plots), the latest run of each dataset beside the period's first, the
worst questions with the chunks retrieved for them, the tuning runs, and the ratings.
Plots are inline SVG (matplotlib), so the file opens anywhere with no network.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE = Path(__file__).parent / "report.html.j2"
PLOTTED = ("hit@5", "mrr", "ndcg@10", "context_relevance", "faithfulness", "citation_correctness",
           "answer_correctness")


def _series(results: list[dict[str, Any]]) -> dict[str, list[tuple[dt.datetime, dict[str, float]]]]:
    """(kind, dataset) -> [(time, summary)], oldest first."""
    series: dict[str, list] = defaultdict(list)
    for result in results:
        if result.get("kind") in ("search", "answers") and result.get("summary"):
            series[_series_name(result)].append((dt.datetime.fromisoformat(result["at"]), result["summary"]))
    return series


def _series_name(result: dict[str, Any]) -> str:
    """What a run's numbers compare with: the same kind, dataset and (for answers) model."""
    name = f"{result['kind']}: {Path(result['dataset']).stem}"
    return f"{name} ({result['provider']})" if result.get("provider") else name


def _plot(name: str, points: list[tuple[dt.datetime, dict[str, float]]]) -> str:
    """One SVG line chart of the plotted metrics of a series."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import dates
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3))
    times = [t for t, _ in points]
    for metric in PLOTTED:
        values = [summary.get(metric) for _, summary in points]
        if any(v is not None for v in values):
            axes.plot(times, [float("nan") if v is None else v for v in values], marker="o", label=metric)
    axes.set_ylim(0, 1.05)
    if min(times) == max(times):  # one run: a readable hour around it, not matplotlib's default span
        axes.set_xlim(times[0] - dt.timedelta(hours=1), times[0] + dt.timedelta(hours=1))
    axes.set_title(name)
    axes.grid(alpha=0.3)
    axes.xaxis.set_major_formatter(dates.DateFormatter("%m-%d %H:%M"))
    figure.autofmt_xdate()
    axes.legend(fontsize=7, loc="lower left")
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog: the SVG is inlined in HTML


def _worst(results: list[dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    """The worst questions of the latest search and answers run of each dataset."""
    latest: dict[str, dict[str, Any]] = {}
    worst = []
    for result in results:
        if result.get("kind") in ("search", "answers"):
            latest[_series_name(result)] = result
    for name, result in latest.items():
        for item in (result.get("worst") or [])[:limit]:
            worst.append({"run": name, **item})
    return worst


def build_report(results: list[dict[str, Any]], feedback: dict[str, Any], *, days: int,
                 now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    series = _series(results)
    tables = []
    for name, points in sorted(series.items()):
        first, last = points[0][1], points[-1][1]
        metrics = [m for m in last if isinstance(last[m], int | float)]
        tables.append({"name": name, "runs": len(points), "at": points[-1][0].strftime("%Y-%m-%d %H:%M"),
                       "rows": [{"metric": m, "latest": last[m], "first": first.get(m),
                                 "change": (last[m] - first[m]) if isinstance(first.get(m), int | float) else None}
                                for m in metrics]})
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent),
                                     autoescape=jinja2.select_autoescape(["html", "j2"]))
    return environment.get_template(TEMPLATE.name).render(
        days=days, generated=now.strftime("%Y-%m-%d %H:%M UTC"),
        since=(now - dt.timedelta(days=days)).strftime("%Y-%m-%d"),
        runs=len(results), tables=tables,
        plots=[{"name": name, "svg": _plot(name, points)} for name, points in sorted(series.items())],
        worst=_worst(results), tuning=[r for r in results if r.get("kind") == "tune"], feedback=feedback,
    )
