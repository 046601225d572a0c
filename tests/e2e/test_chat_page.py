"""The chat page in a real browser: Playwright drives Debian's Chromium against the service on
a real socket, whose model is a real OpenAI-compatible HTTP server streaming word by word.

Screenshots are written to `test-artifacts/chat-page/` (not committed).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from app.access.keys import KEYS_CONFIGURED_TTL, KeyStore
from app.ledgers.feedback import FeedbackStore
from tests.e2e.conftest import ROOT, serving
from tests.npm_packages import npm_file
from tests.openai_peer import Peer, PeerServer

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts" / "chat-page"
AXE_VERSION = "4.14.1"
ADMIN_KEY = "cb_0a0a0a0a_" + "a" * 40
ANSWER = "Conversations are checkpointed **continuously** [1].\n\n```bash\nchatbot db upgrade\n```"
HOSTILE = ("<script>window.__pwned = 1</script> Escaping notes for the widget gallery. "
           '<img src="x" onerror="window.__pwned = 2"> The gallery shows user captions as text.')


@pytest.fixture(scope="module")
def site(tmp_path_factory, kb_data_dir, embeddings):
    """The service (keys on: an admin key and alice's chat key) with a knowledge base that also
    holds a document carrying HTML payloads, answering through a slow-streaming OpenAI peer."""
    from app.ingestion import index_directory
    from app.retrieval import build_vector_store
    from app.settings import Settings

    data_dir = tmp_path_factory.mktemp("chat-page") / "data"
    shutil.copytree(kb_data_dir, data_dir)
    hostile = tmp_path_factory.mktemp("hostile-docs")
    (hostile / "widget-gallery.md").write_text(f"# Widget gallery escaping\n\n## Captions\n\n{HOSTILE}\n")
    store = build_vector_store(Settings(data_dir=data_dir), embeddings)
    index_directory(store, hostile)
    store.close()
    with PeerServer(Peer(answer=ANSWER, word_delay=0.04)) as peer, \
         serving(data_dir, llm_provider="openai", llm_model="peer-model", openai_base_url=f"{peer.url}/v1",
                 openai_api_key="sk-test", chatbot_bootstrap_key=ADMIN_KEY) as (port, settings):
        store = KeyStore(settings.ledger_url)
        alice = store.create("alice", ["chat"])
        store.close()
        time.sleep(KEYS_CONFIGURED_TTL + 0.5)
        yield {"url": f"http://127.0.0.1:{port}", "alice": alice, "admin": ADMIN_KEY, "peer": peer,
               "settings": settings}


@pytest.fixture(scope="module")
def browser():
    assert BROWSER, "no Chromium: apt-get install chromium (make test does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser, site, key: str, **context) -> Page:
    page = browser.new_context(**context).new_page()
    page.goto(site["url"] + "/")
    expect(page.locator("#key-dialog")).to_be_visible()  # keys are on: the page asks for one
    page.fill("#api-key", key)
    page.click("#key-dialog button[value=save]")
    expect(page.locator("#conversations-state")).to_have_text("No conversations yet: ask a first question.")
    return page


def ask(page: Page, question: str) -> None:
    page.fill("#message", question)
    page.press("#message", "Enter")


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def conversation(site, key: str, conversation_id: str) -> dict:
    response = httpx.get(f"{site['url']}/conversations/{conversation_id}", headers={"Authorization": f"Bearer {key}"})
    return response.json()


def test_an_answer_streams_its_citation_opens_feedback_is_stored_and_it_survives_a_reload(browser, site):
    page = open_page(browser, site, site["alice"])
    page.evaluate("""() => {
        window.__updates = 0;
        new MutationObserver(() => {
            const answer = document.querySelector('.message.assistant');
            if (answer && answer.dataset.state === 'streaming') window.__updates += 1;
        }).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
    }""")
    ask(page, "How often are conversations checkpointed?")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-state", "done", timeout=30_000)
    assert page.evaluate("window.__updates") >= 4  # the text grew word by word before the final event
    expect(answer.locator("strong")).to_have_text("continuously")  # Markdown, rendered
    expect(answer.locator("pre code")).to_contain_text("chatbot db upgrade")
    shoot(page, "answer")

    answer.locator("button.citation").first.click()
    dialog = page.locator("#source-dialog")
    expect(dialog).to_be_visible()
    conversation_id = page.evaluate("location.hash.slice(1)")
    cited = conversation(site, site["alice"], conversation_id)["messages"][1]["sources"][0]
    passage = httpx.get(f"{site['url']}/sources/{cited['chunk_id']}",
                        headers={"Authorization": f"Bearer {site['alice']}"}).json()
    expect(page.locator("#source-text")).to_have_text(passage["text"])
    expect(page.locator("#source-title")).to_contain_text(passage["title"])
    shoot(page, "citation")
    dialog.locator("button").click()

    answer.get_by_role("button", name="Not helpful").click()
    page.fill("#feedback-comment", "It should name the interval.")
    page.click("#feedback-dialog button[value=send]")
    expect(answer.get_by_role("button", name="Not helpful")).to_have_attribute("aria-pressed", "true")
    stored = FeedbackStore(site["settings"].ledger_url)
    rows = stored.list()
    stored.close()
    assert [(r["rating"], r["comment"], r["conversation_id"]) for r in rows] == \
        [(-1, "It should name the interval.", conversation_id)]

    page.reload()  # the key is kept by the browser, the conversation is in the address
    expect(page.locator(".message.assistant")).to_have_count(1)
    expect(page.locator(".message.user")).to_have_text("How often are conversations checkpointed?")
    expect(page.locator("#conversations button")).to_have_text(["How often are conversations checkpointed?"])
    assert page.evaluate("document.querySelector('#messages').innerHTML").count("citation") >= 1
    assert site["alice"] not in page.url


def test_stop_ends_a_long_answer_and_nothing_half_written_is_kept(browser, site):
    peer = site["peer"]
    peer.answer = " ".join(["Backups are taken hourly and kept for thirty days."] * 40) + " [1]"
    try:
        page = _fresh(browser, site)
        ask(page, "Tell me everything about backups")
        answer = page.locator(".message.assistant").last
        expect(answer.locator(".body")).to_contain_text("Backups are taken", timeout=20_000)
        page.keyboard.press("Escape")
        expect(answer).to_have_attribute("data-state", "stopped")
        conversation_id = page.evaluate("location.hash.slice(1)")
        sent = peer.streamed_words
        time.sleep(1.0)
        assert peer.streamed_words - sent <= 3  # the server stopped asking the model for more
        messages = conversation(site, site["alice"], conversation_id)["messages"]
        assert all(m["role"] != "assistant" for m in messages)
        shoot(page, "stopped")
    finally:
        peer.answer = ANSWER


def _fresh(browser, site) -> Page:
    """A page with alice's key already stored (a second visit)."""
    page = browser.new_context().new_page()
    page.goto(site["url"] + "/")
    page.evaluate("key => localStorage.setItem('chatbot.apiKey', key)", site["alice"])
    page.reload()
    expect(page.locator("#conversations")).to_have_attribute("aria-busy", "false")
    return page


def test_html_in_an_answer_or_a_document_is_shown_never_run(browser, site):
    peer = site["peer"]
    peer.answer = 'The gallery escapes captions: <img src="x" onerror="window.__pwned = 3"><script>window.__pwned = 4</script> [1]'
    try:
        page = _fresh(browser, site)
        ask(page, "How does the widget gallery escape captions?")
        answer = page.locator(".message.assistant").last
        expect(answer).to_have_attribute("data-state", "done", timeout=30_000)
        answer.locator("button.citation").first.click()
        expect(page.locator("#source-text")).to_contain_text("<script>window.__pwned = 1</script>")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert answer.locator("script, img").count() == 0
        assert page.locator("#source-dialog script, #source-dialog img").count() == 0
        shoot(page, "hostile-html")
    finally:
        peer.answer = ANSWER


def test_an_admin_approves_a_paused_production_deployment(browser, site):
    peer = site["peer"]
    peer.tool_call = {"name": "deploy_model", "arguments": {"model_name": "churn-classifier",
                                                            "environment": "production"}}
    try:
        page = open_page(browser, site, site["admin"])
        ask(page, "Put the newest churn model on the production cluster")
        approval = page.get_by_role("group", name="Tool call waiting for approval")
        expect(approval).to_contain_text("deploy_model")
        expect(approval).to_contain_text('"environment": "production"')
        peer.tool_call = None  # the model words the tool's result once it ran
        shoot(page, "approval")
        approval.get_by_role("button", name="Approve").click()
        expect(page.locator(".message.assistant")).to_have_count(2, timeout=30_000)
        conversation_id = page.evaluate("location.hash.slice(1)")
        assert conversation(site, site["admin"], conversation_id)["pending_approval"] is None
    finally:
        peer.tool_call = None


def test_a_wrong_key_is_told_and_a_refusal_shows_its_banner(browser, site):
    page = browser.new_context().new_page()
    page.goto(site["url"] + "/")
    page.fill("#api-key", "cb_00000000_not-a-key")
    page.click("#key-dialog button[value=save]")
    expect(page.locator("#key-error")).to_have_text("This API key was refused: it is unknown or revoked.")
    expect(page.locator("#banner")).to_contain_text("An API key is needed")


def test_the_page_is_accessible_at_desktop_and_phone_width_in_both_themes(browser, site, tmp_path):
    axe = _axe(tmp_path)
    for viewport, theme in (({"width": 1280, "height": 800}, "light"), ({"width": 390, "height": 844}, "dark")):
        page = browser.new_context(viewport=viewport, bypass_csp=True).new_page()  # to inject axe-core
        page.goto(site["url"] + "/")
        page.evaluate("([key, theme]) => { localStorage.setItem('chatbot.apiKey', key); "
                      "localStorage.setItem('chatbot.theme', theme); }", [site["alice"], theme])
        page.reload()
        expect(page.locator("#conversations")).to_have_attribute("aria-busy", "false")
        page.add_script_tag(path=str(axe))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        serious = [(v["id"], v["impact"], len(v["nodes"])) for v in result["violations"]
                   if v["impact"] in ("serious", "critical")]
        assert serious == [], (viewport, theme, serious)
        shoot(page, f"axe-{viewport['width']}-{theme}")


def test_the_page_is_served_with_a_strict_content_security_policy(site):
    for path in ("/", "/static/js/main.js", "/static/vendor/purify.min.js"):
        response = httpx.get(site["url"] + path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
    page = httpx.get(site["url"] + "/").text
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []  # no inline script
    assert re.search(r"\son[a-z]+\s*=", page) is None  # no inline event handler


def _axe(tmp_path) -> Path:
    """axe-core's browser build, from npm (cached per machine)."""
    return npm_file("axe-core", AXE_VERSION, "axe.min.js")


def _refusing(status: int, body: str, retry_after: str):
    def fulfil(route) -> None:
        route.fulfill(status=status, body=body, headers={"Content-Type": "application/json", "Retry-After": retry_after})

    return fulfil
