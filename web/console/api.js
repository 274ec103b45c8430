// The public /v1 API as the console calls it. The API key lives in this module's variable only: never in
// localStorage, sessionStorage or a cookie, so it is gone when the tab closes or the page reloads.
let key = null;

export function setKey(value) {
  key = value ? value.trim() : null;
}

export function hasKey() {
  return key !== null && key !== "";
}

/** An error answered by the API: its `error.code` and `error.message`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function headers(extra = {}) {
  const h = { ...extra };
  if (hasKey()) h.authorization = `Bearer ${key}`;
  return h;
}

async function failure(response) {
  let code = "http_" + response.status;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, code, message);
}

/**
 * Calls the API. `json`: a JSON body; `form`: an object of fields for multipart (File values are files);
 * `query`: query parameters. Answers the parsed JSON; throws ApiError with the API's message.
 */
export async function api(method, path, { json, form, query } = {}) {
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    const s = q.toString();
    if (s) url += "?" + s;
  }
  const init = { method, headers: headers() };
  if (json !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form) {
    const data = new FormData();
    for (const [k, v] of Object.entries(form)) {
      if (v === undefined || v === null) continue;
      for (const item of Array.isArray(v) ? v : [v]) data.append(k, item);
    }
    init.body = data;
  }
  const response = await fetch(url, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** An image the API serves (it needs the key, so no plain <img src>): an object URL. */
export async function imageUrl(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  return URL.createObjectURL(await response.blob());
}

/** A text resource (Prometheus metrics). */
export async function text(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  return response.text();
}

/** Every page of a listing: `field` of each answer, following `nextToken`. */
export async function all(path, field, query = {}) {
  const out = [];
  let nextToken;
  do {
    const page = await api("GET", path, { query: { ...query, nextToken } });
    out.push(...(page[field] || []));
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}
