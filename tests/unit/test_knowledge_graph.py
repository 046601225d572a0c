"""Relations from tables and sentences, and the graph kept up to date document by document."""

from app.ingestion.knowledge_graph import KnowledgeGraph
from app.ingestion.relations import extract_relations

DOC = """# Payments

| Service | Owner | Depends on | Used by |
|---|---|---|---|
| Payments API | Risk Team | PostgreSQL (ledger), `fraud-scorer` | Checkout, Mobile App |
| fraud-scorer | Risk ML Team | Feature Store | Payments API |

The Payments API stores receipts in S3 and caches sessions in Redis. The Checkout service
reads prices from the Pricing Service, Currency Service and Tax Service; it retries twice.
A multi-stage build depends on nothing here.

```text
Foo depends on Bar
```
"""


def triples(text):
    return {(r.source, r.relation, r.target) for r in extract_relations(text)}


def test_tables_give_relations_by_column_and_used_by_reverses_them():
    found = triples(DOC)
    assert {("Payments API", "depends_on", "PostgreSQL"), ("Payments API", "depends_on", "fraud-scorer"),
            ("Payments API", "owned_by", "Risk Team"), ("Checkout", "uses", "Payments API"),
            ("Mobile App", "uses", "Payments API"), ("fraud-scorer", "depends_on", "Feature Store")} <= found


def test_sentences_give_relations_with_their_object_lists():
    found = triples(DOC)
    assert {("Payments API", "stores_data_in", "S3"), ("Payments API", "stores_data_in", "Redis"),
            ("Checkout", "uses", "Pricing Service"), ("Checkout", "uses", "Currency Service"),
            ("Checkout", "uses", "Tax Service")} <= found
    assert not {t for t in found if t[0] in ("Foo", "multi-stage") or t[2] == "Bar"}  # code and plain words


def test_every_relation_keeps_its_evidence():
    evidence = {(r.source, r.target): r.evidence for r in extract_relations(DOC)}
    assert evidence[("Payments API", "S3")].startswith("The Payments API stores receipts in S3")
    assert evidence[("Payments API", "PostgreSQL")].startswith("| Payments API |")


def test_the_graph_updates_only_what_changed(tmp_path):
    source = tmp_path / "kb"
    source.mkdir()
    (source / "payments.md").write_text(DOC)
    (source / "grafana.md").write_text("# Grafana\n\nGrafana depends on Prometheus for every dashboard.\n")
    graph = KnowledgeGraph(tmp_path / "graph.sqlite")
    first = graph.sync_directory(source)
    assert sorted(first.updated) == ["grafana", "payments"] and first.edges > 10
    again = graph.sync_directory(source)
    assert again.updated == [] and again.unchanged == 2 and again.edges == first.edges

    (source / "grafana.md").write_text("# Grafana\n\nGrafana depends on Loki.\n")
    changed = graph.sync_directory(source)
    assert changed.updated == ["grafana"]
    grafana = graph.find_entity("grafana")
    assert [(e.relation, e.target) for e in graph.edges(grafana, "dependencies")] == [("depends_on", "Loki")]

    (source / "payments.md").unlink()
    kept = graph.sync_directory(source)
    assert kept.removed == [] and graph.find_entity("Payments API") is not None  # without --sync: kept
    removed = graph.sync_directory(source, sync=True)
    assert removed.removed == ["payments"] and graph.find_entity("Payments API") is None


def test_entities_are_found_by_name_word_or_close_spelling(tmp_path):
    source = tmp_path / "kb"
    source.mkdir()
    (source / "payments.md").write_text(DOC)
    graph = KnowledgeGraph(tmp_path / "graph.sqlite")
    graph.sync_directory(source)
    assert graph.find_entity("payments api") == "payments api"
    assert graph.find_entity("the Pricing Service") == "pricing service"  # a word match
    assert graph.find_entity("postgres") == "postgresql"  # a close spelling
    assert graph.find_entity("mainframe") is None
    dependents = {e.source for e in graph.edges("postgresql", "dependents")}
    assert dependents == {"Payments API"}
