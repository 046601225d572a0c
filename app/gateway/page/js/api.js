// The service's HTTP API as the page uses it: JSON requests and a turn's Server-Sent Events,
// read with fetch so that the API key travels in a header (EventSource cannot send one).

const KEY_STORAGE = "chatbot.apiKey";

export class ApiError extends Error {
  constructor(status, body, headers) {
    const error = (body && body.error) || {};
    super(error.message || `the service answered ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details;
    const retry = Number(headers?.get("retry-after") ?? error.details?.retry_after);
    this.retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null;
  }
}

export const apiKey = {
  get: () => localStorage.getItem(KEY_STORAGE) || "",
  set: (key) => (key ? localStorage.setItem(KEY_STORAGE, key) : localStorage.removeItem(KEY_STORAGE)),
};

function headers(json) {
  const result = {};
  const key = apiKey.get();
  if (key) result.Authorization = `Bearer ${key}`;
  if (json) result["Content-Type"] = "application/json";
  return result;
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body, response.headers);
}

/** A JSON request; resolves to the parsed body (null for 204), rejects with ApiError. */
export async function request(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

/** A download (an export): the body as a Blob with the file name the service gives it. */
export async function download(path) {
  const response = await fetch(path, { headers: headers(false) });
  if (!response.ok) throw await failure(response);
  const disposition = response.headers.get("content-disposition") || "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] || "conversation";
  return { blob: await response.blob(), name };
}

/**
 * Stream one turn: POST `body` to /chat/stream and call `onEvent(name, data)` for each event,
 * in order. Aborting `signal` closes the connection, which cancels the turn on the server.
 * A refusal before the stream starts rejects with ApiError (its status and retry time).
 */
export async function streamTurn(body, signal, onEvent) {
  const response = await fetch("/chat/stream", {
    method: "POST",
    headers: { ...headers(true), Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
        name = "message";
        data = [];
      } else if (line.startsWith("event:")) {
        name = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      } // ":" comments (keep-alive pings) and other fields are ignored
    }
  }
}
