// Answers as safe HTML: Markdown parsed by marked, then sanitised by DOMPurify, so no HTML
// from the model or from a document ever runs. `[n]` citations become buttons that open the
// passage they cite. Passages themselves are shown as text, never parsed.
import { Marked } from "/static/vendor/marked.esm.js";

const markdown = new Marked({ gfm: true, breaks: false, async: false });
const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["img", "style", "form", "input", "button", "textarea", "select", "iframe", "svg", "math"],
  FORBID_ATTR: ["style", "class", "id"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};
const CITATION = /\[(\d{1,3})\]/g;

/** Render `text` (Markdown) into `target`, with `[n]` as buttons calling `onCite(n)`. */
export function renderAnswer(target, text, onCite) {
  const html = window.DOMPurify.sanitize(markdown.parse(text), SANITIZE);
  const template = document.createElement("template");
  template.innerHTML = html; // sanitised above: no script, handler or javascript: URL survives
  for (const link of template.content.querySelectorAll("a[href]")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  }
  linkCitations(template.content, onCite);
  target.replaceChildren(template.content);
}

function linkCitations(root, onCite) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement?.closest("code, pre, a") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const texts = [];
  while (walker.nextNode()) {
    if (CITATION.test(walker.currentNode.data)) texts.push(walker.currentNode);
    CITATION.lastIndex = 0;
  }
  for (const node of texts) {
    const parts = document.createDocumentFragment();
    let last = 0;
    for (const match of node.data.matchAll(CITATION)) {
      parts.append(node.data.slice(last, match.index));
      const n = Number(match[1]);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "citation";
      button.textContent = `[${n}]`;
      button.setAttribute("aria-label", `Source ${n}`);
      button.dataset.source = String(n);
      button.addEventListener("click", () => onCite(n));
      parts.append(button);
      last = match.index + match[0].length;
    }
    parts.append(node.data.slice(last));
    node.replaceWith(parts);
  }
}
