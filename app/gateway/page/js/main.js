// The chat page: asks the service over /chat/stream, token by token; keeps the reader's
// conversations in the side list; shows sources, feedback, approvals and banners.
import { ApiError, apiKey, download, request, streamTurn } from "./api.js";
import { ConversationList } from "./conversations.js";
import { Transcript } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const ui = {
  messages: $("messages"), empty: $("empty-state"), composer: $("composer"), message: $("message"),
  send: $("send"), stop: $("stop"), banner: $("banner"), title: $("conversation-title"),
  actions: $("conversation-actions"), sidebar: $("sidebar"), toggleSidebar: $("toggle-sidebar"),
  theme: $("theme-toggle"), keyButton: $("key-button"), keyDialog: $("key-dialog"), keyForm: $("key-form"),
  keyInput: $("api-key"), keyError: $("key-error"), sourceDialog: $("source-dialog"),
  feedbackDialog: $("feedback-dialog"), feedbackForm: $("feedback-form"), feedbackComment: $("feedback-comment"),
};
const session = { me: null, conversationId: null, turn: null };

// --- banners -------------------------------------------------------------------------
let bannerTimer = null;

function showBanner(text, retryAfter = null) {
  clearInterval(bannerTimer);
  ui.banner.hidden = false;
  if (!retryAfter) {
    ui.banner.textContent = text;
    return;
  }
  let left = retryAfter;
  const tick = () => {
    ui.banner.textContent = left > 0 ? `${text} Try again in ${left} s.` : `${text} You can try again now.`;
    if (left-- <= 0) clearInterval(bannerTimer);
  };
  tick();
  bannerTimer = setInterval(tick, 1000);
}

function hideBanner() {
  clearInterval(bannerTimer);
  ui.banner.hidden = true;
}

/** What the reader is told about a refusal; a wrong or revoked key also reopens the key dialog. */
function explain(error) {
  if (!(error instanceof ApiError)) return showBanner(`The service cannot be reached: ${error.message}`);
  if (error.status === 401) {
    askForKey(apiKey.get() ? "This API key was refused: it is unknown or revoked." : "This service needs an API key.");
    return showBanner("An API key is needed: give one with the API key button.");
  }
  if (error.code === "overloaded") return showBanner("The service is busy: too many questions wait for the model.", error.retryAfter);
  if (error.status === 429) return showBanner(`Limit reached: ${error.message}.`, error.retryAfter);
  return showBanner(error.message);
}

// --- the API key ---------------------------------------------------------------------
function askForKey(reason = "") {
  ui.keyError.textContent = reason;
  ui.keyInput.value = "";
  if (!ui.keyDialog.open) ui.keyDialog.showModal();
}

ui.keyButton.addEventListener("click", () => askForKey());
ui.keyDialog.addEventListener("close", async () => {
  if (ui.keyDialog.returnValue === "forget") apiKey.set("");
  else if (ui.keyDialog.returnValue === "save" && ui.keyInput.value.trim()) apiKey.set(ui.keyInput.value.trim());
  else return;
  await start();
});

// --- conversations -------------------------------------------------------------------
const transcript = new Transcript(ui.messages, ui.empty, {
  cite: showSource,
  feedback: giveFeedback,
  decide,
  canApprove: () => Boolean(session.me?.scopes.includes("admin")),
});
const conversations = new ConversationList({
  list: $("conversations"), state: $("conversations-state"), showArchived: $("show-archived"),
  open: openConversation,
});

function setConversation(id, title) {
  session.conversationId = id;
  ui.title.textContent = title || "New conversation";
  ui.actions.hidden = !id;
  conversations.select(id);
  history.replaceState(null, "", id ? `#${id}` : location.pathname);
}

async function openConversation(id) {
  if (session.turn) return;
  ui.messages.setAttribute("aria-busy", "true");
  try {
    const conversation = await request("GET", `/conversations/${encodeURIComponent(id)}`);
    setConversation(id, conversation.title);
    transcript.show(conversation);
    ui.sidebar.classList.remove("open");
  } catch (error) {
    explain(error);
  } finally {
    ui.messages.setAttribute("aria-busy", "false");
  }
}

function newConversation() {
  if (session.turn) return;
  setConversation(null);
  transcript.clear();
  ui.message.focus();
}

const conversationActions = {
  async rename(id) {
    const title = prompt("New title", conversations.find(id)?.title || "");
    if (title && title.trim()) setConversation(id, (await request("PATCH", `/conversations/${id}`, { title: title.trim() })).title);
  },
  async archive(id) {
    await request("POST", `/conversations/${id}/archive`);
  },
  async delete(id) {
    if (!confirm("Delete this conversation and everything stored of it?")) return;
    await request("DELETE", `/conversations/${id}`);
    newConversation();
  },
  "export-json": (id) => save(`/conversations/${id}/export?format=json`),
  "export-markdown": (id) => save(`/conversations/${id}/export?format=markdown`),
};

async function save(path) {
  const { blob, name } = await download(path);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

ui.actions.addEventListener("click", async (event) => {
  const action = event.target.closest("button")?.dataset.action;
  if (!action || !session.conversationId) return;
  ui.actions.open = false;
  try {
    await conversationActions[action](session.conversationId);
    await conversations.refresh();
  } catch (error) {
    explain(error);
  }
});

// --- sources, feedback, approvals ----------------------------------------------------
async function showSource(source) {
  $("source-title").textContent = `[${source.index}] ${source.title || source.document_id || "Source"}`;
  $("source-meta").textContent = [source.section, source.source].filter(Boolean).join(" · ");
  $("source-text").textContent = "Loading…";
  ui.sourceDialog.showModal();
  if (!source.chunk_id) {
    $("source-text").textContent = "This source names no passage.";
    return;
  }
  try {
    const query = source.document_id ? `?document_id=${encodeURIComponent(source.document_id)}` : "";
    const passage = await request("GET", `/sources/${encodeURIComponent(source.chunk_id)}${query}`);
    $("source-meta").textContent = [passage.section, passage.source].filter(Boolean).join(" · ");
    $("source-text").textContent = passage.text; // text, never HTML
  } catch (error) {
    $("source-text").textContent = `The passage could not be loaded: ${error.message}`;
  }
}

function askComment(rating) {
  $("feedback-title").textContent = rating > 0 ? "What was good about this answer?" : "What was wrong with this answer?";
  ui.feedbackComment.value = "";
  ui.feedbackDialog.showModal();
  return new Promise((resolve) => {
    ui.feedbackDialog.addEventListener("close", () => resolve(ui.feedbackDialog.returnValue === "send"
      ? { comment: ui.feedbackComment.value.trim() || null } : null), { once: true });
  });
}

async function giveFeedback(answer, rating) {
  const given = await askComment(rating);
  if (!given) return false;
  try {
    await request("POST", "/feedback", { conversation_id: answer.conversationId, message_id: answer.messageId,
                                         rating, comment: given.comment });
    return true;
  } catch (error) {
    explain(error);
    return false;
  }
}

async function decide(conversationId, approved) {
  try {
    const response = await request("POST", `/conversations/${conversationId}/approve`, { approved });
    transcript.startAnswer(conversationId).finish(response);
    return true;
  } catch (error) {
    explain(error);
    return false;
  }
}

// --- asking --------------------------------------------------------------------------
function busy(running) {
  ui.send.disabled = running;
  ui.stop.disabled = !running;
  ui.messages.setAttribute("aria-busy", String(running));
}

function onTurnEvent(view, question, name, data) {
  if (name === "metadata") {
    view.conversationId = data.conversation_id;
    if (!session.conversationId) setConversation(data.conversation_id, question);
  } else if (name === "token") {
    view.append(data.text);
  } else if (name === "restart") {
    view.restart();
  } else if (name === "final") {
    view.finish(data);
    if (data.degraded) showBanner("This answer is degraded: a fallback model or the fallback search produced it.");
  } else if (name === "error") {
    view.fail(data.error.message);
    showBanner(data.error.message);
  }
}

async function ask(text) {
  hideBanner();
  transcript.addQuestion(text);
  const view = transcript.startAnswer(session.conversationId);
  const controller = new AbortController();
  session.turn = controller;
  busy(true);
  try {
    const body = { message: text, ...(session.conversationId ? { conversation_id: session.conversationId } : {}) };
    await streamTurn(body, controller.signal, (name, data) => onTurnEvent(view, text, name, data));
    if (view.article.dataset.state === "streaming") view.fail("The answer ended before it was complete.");
  } catch (error) {
    if (controller.signal.aborted) view.stop("Stopped: this answer was not kept.");
    else {
      view.fail(`No answer: ${error.message}`);
      explain(error);
    }
  } finally {
    session.turn = null;
    busy(false);
    conversations.refresh().catch(() => {});
  }
}

function stop() {
  session.turn?.abort();
}

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.message.value.trim();
  if (!text || session.turn) return;
  ui.message.value = "";
  ask(text);
});
ui.message.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && session.turn) {
    event.preventDefault();
    stop();
  }
});
ui.stop.addEventListener("click", stop);
$("new-conversation").addEventListener("click", newConversation);
ui.toggleSidebar.addEventListener("click", () => {
  const open = ui.sidebar.classList.toggle("open");
  ui.toggleSidebar.setAttribute("aria-expanded", String(open));
});

// --- theme ---------------------------------------------------------------------------
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  ui.theme.setAttribute("aria-pressed", String(theme === "dark"));
  ui.theme.textContent = theme === "dark" ? "Light theme" : "Dark theme";
}

ui.theme.addEventListener("click", () => {
  const theme = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("chatbot.theme", theme);
  applyTheme(theme);
});
applyTheme(localStorage.getItem("chatbot.theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));

// --- start ---------------------------------------------------------------------------
async function start() {
  try {
    session.me = await request("GET", "/me");
    hideBanner();
    ui.keyButton.hidden = !session.me.keys_required && !apiKey.get();
    await conversations.refresh();
    const wanted = location.hash.slice(1);
    if (wanted) await openConversation(wanted);
  } catch (error) {
    explain(error);
  }
}

start();
