"""Retrieval metrics on rankings worked out by hand, and the Python FAQ dataset builder."""

import math

import pytest

from evals import python_docs
from evals.ranking import document_ranking, hit_at, ndcg_at, reciprocal_rank, summarise


def test_metrics_on_a_ranking_worked_out_by_hand():
    ranking = document_ranking(["a", "b", "a", "c", "d"])
    assert ranking == ["a", "b", "c", "d"]  # a document counts once, at its best rank
    relevant = {"b", "d"}
    assert hit_at(ranking, relevant, 1) == 0.0 and hit_at(ranking, relevant, 5) == 1.0
    assert reciprocal_rank(ranking, relevant) == 0.5
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at(ranking, relevant, 10) == pytest.approx(expected)
    assert ndcg_at(["b", "d"], relevant) == pytest.approx(1.0) and ndcg_at(["x"], relevant) == 0.0
    assert summarise([{"mrr": 1.0}, {"mrr": 0.5}]) == {"mrr": 0.75}


def _sources(root):
    (root / "library").mkdir(parents=True)
    (root / "tutorial").mkdir()
    (root / "faq").mkdir()
    (root / "library" / "sys.rst.txt").write_text(":mod:`sys` --- System\n\n.. module:: sys\n\nText.\n")
    (root / "library" / "os.path.rst.txt").write_text(".. module:: os.path\n\nPaths.\n")
    (root / "tutorial" / "errors.rst.txt").write_text(".. _tut-errors:\n\nErrors\n======\n\nText.\n")
    (root / "faq" / "general.rst.txt").write_text(
        "General FAQ\n===========\n\n"
        "How do I exit a program?\n------------------------\n\n"
        "Call :func:`sys.exit` with a status; it raises :exc:`SystemExit`, which you may catch like any other.\n\n"
        "How do I join two paths?\n------------------------\n\n"
        "Use :func:`~os.path.join`, which knows the separator of the platform; see also :ref:`errors <tut-errors>`.\n\n"
        "Is there a question without references?\n---------------------------------------\n\n"
        "Yes: this answer names no page at all, so it cannot label any retrieval result.\n")


def test_the_faq_becomes_questions_labelled_with_the_pages_they_reference(tmp_path):
    root = tmp_path / "sources"
    _sources(root)
    items = python_docs.build(root)
    assert [(i["question"], i["relevant_doc_ids"]) for i in items] == [
        ("How do I exit a program?", ["library/sys.rst"]),
        ("How do I join two paths?", ["library/os.path.rst", "tutorial/errors.rst"]),
    ]
    assert items[0]["reference_answer"].startswith("Call sys.exit with a status; it raises SystemExit")
    assert python_docs.build(root) == items  # the same sources, the same dataset
    assert python_docs.link_corpus(root, tmp_path / "corpus") == 3
    assert not (tmp_path / "corpus" / "faq").exists() and (tmp_path / "corpus" / "library" / "sys.rst.txt").is_file()


@pytest.mark.skipif(not (python_docs.SOURCES / "faq").is_dir(), reason="python3.11-doc is not installed")
def test_the_installed_python_faq_gives_a_dataset_whose_labels_are_pages_of_the_corpus():
    items = python_docs.build()
    assert len(items) >= 50 and len({i["id"] for i in items}) == len(items)
    pages = {p.relative_to(python_docs.SOURCES).with_suffix("").as_posix()
             for p in python_docs.SOURCES.rglob("*.rst.txt")}
    assert all(doc in pages and not doc.startswith("faq/") for i in items for doc in i["relevant_doc_ids"])
