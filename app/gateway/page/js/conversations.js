// The side list: the reader's own conversations (the API only ever returns the caller's),
// most recent first, with an empty state and a loading state.
import { request } from "./api.js";

export class ConversationList {
  /** `open(id)` is called when the reader picks a conversation. */
  constructor({ list, state, showArchived, open }) {
    this.list = list;
    this.state = state;
    this.showArchived = showArchived;
    this.open = open;
    this.currentId = null;
    this.conversations = [];
    showArchived.addEventListener("change", () => this.refresh());
  }

  find(id) {
    return this.conversations.find((c) => c.id === id) || null;
  }

  async refresh() {
    this.state.textContent = "Loading…";
    this.state.hidden = false;
    this.list.setAttribute("aria-busy", "true");
    try {
      const status = this.showArchived.checked ? "" : "&status=active";
      const body = await request("GET", `/conversations?limit=100${status}`);
      this.conversations = body.conversations;
      this.render();
    } catch (error) {
      this.conversations = [];
      this.list.replaceChildren();
      this.state.textContent = `Conversations could not be loaded: ${error.message}`;
      throw error;
    } finally {
      this.list.setAttribute("aria-busy", "false");
    }
  }

  select(id) {
    this.currentId = id;
    for (const button of this.list.querySelectorAll("button")) {
      button.setAttribute("aria-current", String(button.dataset.id === id));
    }
  }

  render() {
    this.state.textContent = this.conversations.length ? "" : "No conversations yet: ask a first question.";
    this.state.hidden = this.conversations.length > 0;
    const items = this.conversations.map((conversation) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.id = conversation.id;
      button.textContent = conversation.title || `Conversation ${conversation.id.slice(0, 8)}`;
      button.title = `${button.textContent} (${new Date(conversation.updated_at * 1000).toLocaleString()})`;
      if (conversation.status === "archived") button.classList.add("archived");
      button.setAttribute("aria-current", String(conversation.id === this.currentId));
      button.addEventListener("click", () => this.open(conversation.id));
      const item = document.createElement("li");
      item.append(button);
      return item;
    });
    this.list.replaceChildren(...items);
  }
}
