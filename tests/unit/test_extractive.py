from langchain_core.messages import HumanMessage

import prompts
from app.llm.extractive import ExtractiveChatModel, split_sentences

PASSAGES = [
    prompts.Passage(1, "Lambda", "Lambda bills by the millisecond. Images may be up to 10 GB uncompressed. Cold starts take 2 to 6 seconds."),
    prompts.Passage(2, "Backups", "Conversations are backed up every 5 minutes. The vector index is snapshotted hourly."),
]


def rag(question):
    return prompts.load("rag").format(passages=prompts.format_passages(PASSAGES), question=question)


def test_quotes_the_most_relevant_sentence_with_its_citation(embeddings):
    model = ExtractiveChatModel(embeddings=embeddings, max_sentences=1)
    reply = model.invoke([HumanMessage(rag("How large can a Lambda container image be?"))])
    assert reply.content == "Images may be up to 10 GB uncompressed. [1]"
    assert reply.response_metadata["degraded"] is True


def test_lexical_ranking_works_without_embeddings():
    reply = ExtractiveChatModel(max_sentences=1).invoke([HumanMessage(rag("How often is the vector index snapshotted?"))])
    assert reply.content == "The vector index is snapshotted hourly. [2]"


def test_streams_word_by_word_and_reports_usage():
    chunks = list(ExtractiveChatModel().stream([HumanMessage(rag("How often are conversations backed up?"))]))
    assert len([c for c in chunks if c.content]) > 3
    assert chunks[-1].usage_metadata["output_tokens"] > 0


def test_without_passages_it_answers_politely_and_quotes_tool_results():
    model = ExtractiveChatModel()
    assert model.invoke([HumanMessage("User: hello\nAssistant:")]).content == prompts.load("direct_fallback")
    tool = prompts.load("tool").format(tool_name="calculate", tool_result="6 * 7 = 42", question="6*7?")
    assert model.invoke([HumanMessage(tool)]).content == "6 * 7 = 42"


def test_unrelated_question_gets_the_no_answer_reply(embeddings):
    reply = ExtractiveChatModel(embeddings=embeddings).invoke([HumanMessage(rag("Who won the football world cup in 1954?"))])
    assert reply.content == prompts.load("no_answer")


def test_sentence_splitting_drops_headings_and_code_fences():
    text = "## Heading\n```bash\nls\n```\n- First item is long enough to keep. Second sentence here too."
    assert split_sentences(text) == ["First item is long enough to keep.", "Second sentence here too."]
