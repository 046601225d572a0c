from langchain_core.documents import Document

import prompts
from graphs.citations import resolve_citations


def test_passages_round_trip_through_a_rendered_prompt():
    passages = [prompts.Passage(1, "Backups — RPO", "The RPO is 5 minutes.\nSecond line."),
                prompts.Passage(2, "Kubernetes", "Use kubectl rollout undo.")]
    rendered = prompts.load("rag").format(passages=prompts.format_passages(passages), question="What is the RPO?")
    assert prompts.parse_passages(rendered) == passages  # the template's worked example is skipped
    assert prompts.parse_question(rendered) == "What is the RPO?"


def test_tool_result_is_read_back_from_the_tool_prompt():
    rendered = prompts.load("tool").format(tool_name="calculate", tool_result="2 + 2 = 4", question="2+2?")
    assert prompts.parse_tool_result(rendered) == "2 + 2 = 4"
    assert prompts.parse_tool_result("no tool here") is None


DOCS = [Document(page_content="Lambda images may be up to 10 GB."), Document(page_content="The RPO is five minutes.")]


def test_valid_citations_are_kept_and_invalid_ones_dropped():
    answer, cited = resolve_citations("Up to 10 GB [1][7]. RPO is five minutes [2].", DOCS)
    assert answer == "Up to 10 GB [1]. RPO is five minutes [2]."
    assert cited == [1, 2]


def test_uncited_answer_is_attributed_to_the_passage_it_comes_from():
    answer, cited = resolve_citations("The RPO is five minutes.", DOCS)
    assert cited == [2] and answer.endswith("[2]")


def test_answer_sharing_nothing_with_the_passages_gets_no_citation():
    assert resolve_citations("Hi!", DOCS) == ("Hi!", [])
