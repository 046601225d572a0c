"""Entities and relations from a document's text, for the knowledge graph (no model needed).

Two sources, both common in an engineering wiki:
- tables whose first column names a thing and whose other columns name related things
  under a header such as "Depends on", "Runs on", "Used by" or "Owner";
- sentences of the form "<Name> depends on / uses / is backed by / stores ... in / runs on /
  reads ... from <Name>[, <Name> and <Name>]".

A name is a capitalised phrase ("MLflow Model Registry", "PostgreSQL"), a code span
(`fraud-scorer`), or a lowercase hyphenated name the document's tables use as a name
(fraud-scorer). Extraction sees one document at a time, so the graph can be updated
document by document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Relation of a table column, by its header (lowercase); `True` reverses the edge.
COLUMN_RELATIONS: dict[str, tuple[str, bool]] = {
    "depends on": ("depends_on", False),
    "dependencies": ("depends_on", False),
    "requires": ("depends_on", False),
    "uses": ("uses", False),
    "runs on": ("runs_on", False),
    "platform": ("runs_on", False),
    "hosted on": ("runs_on", False),
    "stores data in": ("stores_data_in", False),
    "used by": ("uses", True),
    "consumers": ("uses", True),
    "owner": ("owned_by", False),
    "owned by": ("owned_by", False),
}
# Verb phrases in sentences; `[^,.;]{0,40}?` lets an object sit between verb and preposition.
SENTENCE_CUES: list[tuple[str, str]] = [
    ("depends_on", r"depends on|depend on|relies on|rely on|requires"),
    ("stores_data_in", r"(?:is |are )?backed by|(?:stores|keeps|caches|writes|persists)[^,.;]{0,40}? (?:in|to)"),
    ("runs_on", r"runs on|(?:is |are )?(?:deployed|hosted) (?:on|to)"),
    ("uses", r"uses|calls|queries|(?:reads|pulls|serves|loads|fetches)[^,.;]{0,40}? from|pushes[^,.;]{0,40}? to"),
]
RELATIONS = ("depends_on", "uses", "stores_data_in", "runs_on", "owned_by")
_CUE = re.compile("|".join(f"(?P<{name}>\\b(?:{pattern})\\b)" for name, pattern in SENTENCE_CUES))
_CAPITALISED = r"(?:[A-Z][\w]*(?:[-.][\w]+)*)(?:[ ](?:[A-Z][\w]*(?:[-.][\w]+)*))*"
_NAME = re.compile(
    rf"`(?P<code>[A-Za-z][\w.-]{{1,60}})`|\b(?P<cap>{_CAPITALISED})|\b(?P<low>[a-z][a-z0-9]*(?:-[a-z0-9]+)+)\b"
)
# Capitalised words that start sentences or phrases without naming anything.
_NOT_NAMES = set(
    "The This That These Those When Each Every If In On For A An It Its Our We You Your All Any No Not "
    "Before After During Because Only Both Most Some Also Then But Or And As At By To With From Keep "
    "Check Run Use See Set Do Note Why What How Which Who Where".split()
)
# Between two objects of one verb: "X, Y and Z", "X for metadata and Y for artifacts".
_LIST_GLUE = re.compile(r"^(?:\s+for [a-z ]+?)?\s*(?:,\s*and\s+|,\s*|\s+and\s+)$")
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z`])|\n+")
# A line break inside a paragraph (hard-wrapped Markdown) is a space; one before a list
# item, a table row or a heading is not.
_SOFT_BREAK = re.compile(r"(?<!\n)\n(?![\n|#>*+-]|\d+\.)")


@dataclass(frozen=True)
class Relation:
    source: str
    relation: str
    target: str
    evidence: str  # the table row or sentence it came from


def entity_key(name: str) -> str:
    """How names are matched: case, code quotes, spacing and hyphens aside."""
    return re.sub(r"[\s_-]+", " ", name.strip("` ").lower()).strip()


def _clean(name: str) -> str:
    words = name.strip("` ").split()
    while words and words[0] in _NOT_NAMES:
        words.pop(0)
    return " ".join(words)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _cell_names(cell: str) -> list[str]:
    cell = re.sub(r"\([^)]*\)", "", cell)  # "PostgreSQL (checkpoints)" -> "PostgreSQL"
    parts = re.split(r",|;|\band\b", cell)
    return [name for part in parts if (name := _clean(part.strip().strip("`"))) and name not in {"-", "—"}]


def _table_relations(text: str) -> tuple[list[Relation], set[str]]:
    relations: list[Relation] = []
    names: set[str] = set()
    lines = text.splitlines()
    n = 0
    while n + 1 < len(lines):
        header, rule = lines[n], lines[n + 1]
        if not (header.lstrip().startswith("|") and re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", rule) and "-" in rule):
            n += 1
            continue
        columns = [c.lower() for c in _cells(header)]
        n += 2
        while n < len(lines) and lines[n].lstrip().startswith("|"):
            cells = _cells(lines[n])
            subject = _clean(cells[0].strip("`*")) if cells else ""
            if subject:
                names.add(subject)
                for column, cell in zip(columns[1:], cells[1:]):
                    relation, reverse = COLUMN_RELATIONS.get(column, (None, False))
                    if relation is None:
                        continue
                    for other in _cell_names(cell):
                        names.add(other)
                        source, target = (other, subject) if reverse else (subject, other)
                        relations.append(Relation(source, relation, target, lines[n].strip()))
            n += 1
    return relations, names


def _names_in(clause: str, known: set[str]) -> list[tuple[int, int, str]]:
    """(start, end, name) of the names in a clause, in order."""
    found = []
    for match in _NAME.finditer(clause):
        if match.group("low") and match.group("low") not in known:
            continue  # a hyphenated word ("multi-stage") is a name only where a table says so
        raw = match.group("code") or match.group("cap") or match.group("low")
        name = _clean(raw)
        if name and "/" not in name and ":" not in name:
            found.append((match.start() + (len(match.group(0)) - len(match.group(0).lstrip("`"))), match.end(), name))
    return found


def _sentence_relations(text: str, known: set[str]) -> list[Relation]:
    text = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)  # code is not prose
    text = _SOFT_BREAK.sub(" ", text)
    relations = []
    for sentence in _SENTENCES.split(text):
        if sentence.lstrip().startswith(("|", "#")):
            continue
        for clause in re.split(r";|\bbut\b|\bwhile\b|\bwhereas\b", sentence):
            names = _names_in(clause, known)
            subject = None
            for cue in _CUE.finditer(clause):
                before = [name for start, end, name in names if end <= cue.start()]
                if subject is None and before:
                    subject = before[-1]
                if subject is None:
                    continue
                position = cue.end()
                for start, end, name in names:
                    if start < cue.end():
                        continue
                    glue = clause[position:start]
                    first = position == cue.end()
                    if (first and glue.strip() not in ("", "the")) or (not first and not _LIST_GLUE.match(glue)):
                        break
                    if entity_key(name) != entity_key(subject):
                        relations.append(Relation(subject, cue.lastgroup, name, sentence.strip()))
                    position = end
    return relations


def extract_relations(text: str) -> list[Relation]:
    """The document's relations, each once (the first evidence kept)."""
    table, names = _table_relations(text)
    known = {entity_key(n) for n in names} | {n for n in names if "-" in n}
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for relation in table + _sentence_relations(text, known):
        key = (entity_key(relation.source), relation.relation, entity_key(relation.target))
        if key not in seen:
            seen.add(key)
            unique.append(relation)
    return unique
