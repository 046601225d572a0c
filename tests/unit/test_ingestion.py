"""Loaders for every format, and the step-by-step pipeline converging on one index."""

import numpy as np
import pytest
from fpdf import FPDF

from app.ingestion import (
    UnsupportedDocument,
    embed_chunks,
    index_directory,
    index_embeddings,
    load_document,
    prepare_directory,
    read_chunks,
)
from app.retrieval import EmbeddedVectorStore, IndexModelMismatch


def write_pdf(path, title, pages):
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    pdf.output(str(path))


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "kb"
    (root / "ops").mkdir(parents=True)
    (root / "guide.md").write_text("---\ntitle: Deployment Guide\ntags: [deploy, k8s]\n---\n# Ignored H1\n\n## Rollback\n\nUse kubectl rollout undo.\n")
    (root / "notes.txt").write_text("Release notes\n\nVersion 2 adds streaming responses.\n")
    (root / "ops" / "page.html").write_text(
        "<html><head><title>Ops Page</title><script>alert('x')</script></head><body>"
        "<h1>Operations</h1><h2>Restarts</h2><p>Restart with <code>docker restart chatbot</code>.</p></body></html>"
    )
    write_pdf(root / "manual.pdf", "Operator Manual", ["Page one explains backups.", "Page two explains restores."])
    (root / "image.png").write_bytes(b"\x89PNG")  # not a document: ignored
    return root


def test_every_format_loads_with_title_source_and_headings(corpus):
    md = load_document(corpus / "guide.md")
    assert (md.title, md.tags, md.format) == ("Deployment Guide", ["deploy", "k8s"], "markdown")
    assert "title:" not in md.text
    html = load_document(corpus / "ops" / "page.html")
    assert html.title == "Ops Page" and "## Restarts" in html.text and "alert" not in html.text
    pdf = load_document(corpus / "manual.pdf")
    assert pdf.title == "Operator Manual" and "## Page 2" in pdf.text and "restores" in pdf.text
    assert load_document(corpus / "notes.txt").title == "Release notes"
    assert md.modified.startswith("20")


def test_unreadable_files_are_reported_not_fatal(corpus, tmp_path, embeddings):
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    store = EmbeddedVectorStore(tmp_path / "i.sqlite", embeddings)
    report = index_directory(store, corpus)
    assert report.documents == 4 and any("broken.pdf" in e for e in report.errors)
    with pytest.raises(UnsupportedDocument):
        load_document(corpus / "broken.pdf")


def test_chunks_keep_document_metadata(corpus, tmp_path, embeddings):
    store = EmbeddedVectorStore(tmp_path / "i.sqlite", embeddings)
    index_directory(store, corpus)
    assert store.document_ids() == ["guide", "manual", "notes", "ops/page"]
    (chunk,) = [d for d in store.similarity_search("rollback kubectl", k=1)]
    expected = {"document_id": "guide", "title": "Deployment Guide", "section": "Rollback", "tags": ["deploy", "k8s"]}
    assert {k: chunk.metadata[k] for k in expected} == expected
    assert chunk.metadata["source"].endswith("guide.md")


def test_step_by_step_builds_the_same_index_as_one_go(corpus, tmp_path, embeddings):
    one_go = EmbeddedVectorStore(tmp_path / "one.sqlite", embeddings)
    index_directory(one_go, corpus, chunk_size=300, chunk_overlap=0)
    prepare_directory(corpus, tmp_path / "processed", chunk_size=300, chunk_overlap=0)
    embed_chunks(tmp_path / "processed", tmp_path / "embeddings", embeddings.embed_array, "all-MiniLM-L6-v2", batch_size=2)
    steps = EmbeddedVectorStore(tmp_path / "steps.sqlite", embeddings)
    report = index_embeddings(steps, tmp_path / "embeddings")
    assert report.written == one_go.count() == steps.count()
    assert set(one_go.chunk_ids("guide")) == set(steps.chunk_ids("guide"))
    query = one_go.embed_query("restart the container")
    (a_ids, a_scores), (b_ids, b_scores) = (zip(*s.vector_search(query, 3)) for s in (one_go, steps))
    assert a_ids == b_ids and a_scores == pytest.approx(b_scores, abs=1e-5)
    assert index_embeddings(steps, tmp_path / "embeddings").written == 0  # re-running writes nothing


def test_vectors_of_another_model_are_refused(corpus, tmp_path, embeddings):
    prepare_directory(corpus, tmp_path / "p", chunk_size=300, chunk_overlap=0)
    embed_chunks(tmp_path / "p", tmp_path / "e", lambda texts: np.ones((len(texts), 8)), "toy-model")
    with pytest.raises(IndexModelMismatch, match="toy-model"):
        index_embeddings(EmbeddedVectorStore(tmp_path / "i.sqlite", embeddings), tmp_path / "e")


def test_rerunning_after_a_crash_converges(corpus, tmp_path, embeddings, monkeypatch):
    store = EmbeddedVectorStore(tmp_path / "i.sqlite", embeddings)
    calls = {"n": 0}
    original = store.replace_document

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "replace_document", crash_on_third)
    with pytest.raises(RuntimeError):
        index_directory(store, corpus)
    monkeypatch.setattr(store, "replace_document", original)
    assert len(store.document_ids()) == 2  # the two finished documents, nothing half-written
    index_directory(store, corpus)
    reference = EmbeddedVectorStore(tmp_path / "ref.sqlite", embeddings)
    index_directory(reference, corpus)
    assert sorted(store.get_by_ids(store.chunk_ids("manual")), key=lambda d: d.id) == sorted(
        reference.get_by_ids(reference.chunk_ids("manual")), key=lambda d: d.id)
    assert store.count() == reference.count() and store.integrity()["problems"] == []


def test_prepared_chunks_are_replaced_atomically(corpus, tmp_path):
    prepare_directory(corpus, tmp_path / "p", chunk_size=300, chunk_overlap=0)
    (corpus / "notes.txt").unlink()
    prepare_directory(corpus, tmp_path / "p", chunk_size=300, chunk_overlap=0)
    assert "notes" not in [d for d, _ in read_chunks(tmp_path / "p")]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch left behind


def test_the_same_chunk_twice_in_a_document_is_indexed_once(tmp_path, embeddings):
    """Found on the Python docs: code comments (`# Expected output:`) read as Markdown headings
    made identical chunks, hence one id twice, and the document failed to index."""
    source = tmp_path / "kb"
    source.mkdir()
    example = "# Expected output:\n\nhello world\n\n"
    (source / "page.txt").write_text(f"Tasks\n\n{example}# Second example\n\nprint(2)\n\n{example}")
    store = EmbeddedVectorStore(tmp_path / "i.sqlite", embeddings)
    report = index_directory(store, source)
    texts = [d.page_content for d in store.get_by_ids(store.chunk_ids("page"))]
    assert report.errors == [] and len(texts) == report.chunks == len(set(texts))
    assert sum("hello world" in t for t in texts) == 1
