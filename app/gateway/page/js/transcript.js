// The messages of the open conversation: the reader's questions (as text) and the answers
// (Markdown, rendered safely), each answer with its sources, badges, feedback and, when a tool
// call waits for a person, what would run and the buttons that decide it.
import { renderAnswer } from "./markdown.js";

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

export class Transcript {
  /** `actions`: { cite(source), feedback(answer, rating), decide(approved), canApprove() } */
  constructor(container, emptyState, actions) {
    this.container = container;
    this.emptyState = emptyState;
    this.actions = actions;
  }

  clear() {
    this.container.replaceChildren(this.emptyState);
    this.emptyState.hidden = false;
  }

  addQuestion(text) {
    this.emptyState.hidden = true;
    const article = element("article", { class: "message user", "aria-label": "Your question" });
    article.textContent = text;
    this.container.append(article);
    article.scrollIntoView({ block: "end" });
    return article;
  }

  startAnswer(conversationId) {
    this.emptyState.hidden = true;
    return new AnswerView(this.container, this.actions, conversationId);
  }

  /** A stored conversation, message by message, and the tool call that waits in it, if any. */
  show(conversation) {
    this.clear();
    for (const message of conversation.messages) {
      if (message.role === "user") {
        this.addQuestion(message.content);
      } else if (message.role === "assistant") {
        const view = this.startAnswer(conversation.id);
        view.finish({ answer: message.content, sources: message.sources || [], message_id: message.id });
      }
    }
    if (conversation.pending_approval) {
      const view = this.startAnswer(conversation.id);
      view.finish({ answer: `${conversation.pending_approval.reason}: it runs once approved.`, sources: [],
                    pending_approval: conversation.pending_approval });
    }
  }
}

export class AnswerView {
  constructor(container, actions, conversationId) {
    this.actions = actions;
    this.conversationId = conversationId;
    this.text = "";
    this.sources = [];
    this.body = element("div", { class: "body" });
    this.article = element("article", { class: "message assistant streaming", "aria-label": "Answer",
                                        "data-state": "streaming" }, this.body);
    container.append(this.article);
    this.frame = null;
  }

  append(token) {
    this.text += token;
    if (this.frame === null) this.frame = requestAnimationFrame(() => this.render());
  }

  restart() {
    this.text = "";
    this.render();
  }

  render() {
    this.frame = null;
    renderAnswer(this.body, this.text, (n) => this.cite(n));
    this.article.scrollIntoView({ block: "end" });
  }

  cite(n) {
    const source = this.sources.find((s) => s.index === n);
    if (source) this.actions.cite(source);
  }

  /** The turn's `final` response (or a stored answer): the whole text, sources, badges, feedback. */
  finish(response) {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.text = response.answer;
    this.sources = response.sources || [];
    this.render();
    this.article.classList.remove("streaming");
    this.article.dataset.state = "done";
    if (this.sources.length) this.article.append(this.sourceList());
    this.article.append(this.metaLine(response));
    if (response.pending_approval) this.article.append(this.approval(response.pending_approval));
  }

  stop(note) {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.render();
    this.article.classList.remove("streaming");
    this.article.dataset.state = "stopped";
    this.article.append(element("p", { class: "muted" }, note));
  }

  fail(message) {
    this.stop(message);
    this.article.dataset.state = "error";
  }

  sourceList() {
    const list = element("ol", { class: "sources", "aria-label": "Sources" });
    for (const source of this.sources) {
      const label = [source.title || source.document_id, source.section].filter(Boolean).join(" — ");
      const button = element("button", { type: "button" }, `[${source.index}] ${label}`);
      button.addEventListener("click", () => this.actions.cite(source));
      list.append(element("li", {}, button));
    }
    return list;
  }

  metaLine(response) {
    const line = element("div", { class: "meta-line" });
    if (response.provider) line.append(element("span", { class: "badge" }, response.provider));
    if (response.degraded) line.append(element("span", { class: "badge warning" }, "degraded"));
    if (response.cached) line.append(element("span", { class: "badge" }, "cached"));
    if (response.message_id) line.append(this.feedback(response.message_id));
    return line;
  }

  feedback(messageId) {
    const group = element("span", { class: "feedback", role: "group", "aria-label": "Was this answer helpful?" });
    const buttons = [[1, "Helpful"], [-1, "Not helpful"]].map(([rating, label]) => {
      const button = element("button", { type: "button", "aria-pressed": "false", "data-rating": String(rating) },
                             label);
      button.addEventListener("click", async () => {
        if (await this.actions.feedback({ conversationId: this.conversationId, messageId }, rating)) {
          for (const other of buttons) other.setAttribute("aria-pressed", String(other === button));
        }
      });
      return button;
    });
    group.append(...buttons);
    return group;
  }

  approval(pending) {
    const box = element("div", { class: "approval", role: "group", "aria-label": "Tool call waiting for approval" });
    box.append(element("p", {}, element("strong", {}, "Waiting for approval: "), pending.reason));
    const call = JSON.stringify({ tool: pending.tool, arguments: pending.arguments }, null, 2);
    box.append(element("pre", {}, element("code", {}, call)));
    const buttons = element("div", { class: "buttons" });
    if (this.actions.canApprove()) {
      const approve = element("button", { type: "button", class: "primary" }, "Approve");
      approve.addEventListener("click", () => this.decide(box, true));
      buttons.append(approve);
    } else {
      box.append(element("p", { class: "muted" }, "An admin must approve it; you may withdraw it."));
    }
    const reject = element("button", { type: "button" }, this.actions.canApprove() ? "Reject" : "Withdraw");
    reject.addEventListener("click", () => this.decide(box, false));
    buttons.append(reject);
    box.append(buttons);
    return box;
  }

  async decide(box, approved) {
    for (const button of box.querySelectorAll("button")) button.disabled = true;
    if (!(await this.actions.decide(this.conversationId, approved))) {
      for (const button of box.querySelectorAll("button")) button.disabled = false;
    }
  }
}
