// The API client: same-origin JSON with the CSRF token, timeouts, and a strict idea of
// success: only a JSON answer counts (a hotel Wi-Fi login page answers 200 with HTML).

export class ApiError extends Error {
  // kind: offline | portal | auth | client | server
  // retryAt: when a limit (429) or an outage (503) says to come back (from Retry-After).
  // requestId: the server's id for the request (X-Request-ID, problem `request_id`),
  // shown under the message so a screenshot finds the server's log lines.
  constructor(kind, status, problem, message, retryAt = null, requestId = null) {
    super(message || problem?.detail || kind);
    this.kind = kind;
    this.status = status;
    this.problem = problem || null;
    this.code = problem?.code || kind;
    this.retryAt = retryAt;
    this.requestId = problem?.request_id || requestId || null;
  }
}

// The app's language, as i18n.js keeps it; read here so the API client stays free of the
// UI's modules (the outbox runs it without a screen).
export function appLang() {
  try {
    return globalThis.localStorage?.getItem("fieldcase.lang") === "en" ? "en" : "zh";
  } catch {
    return "zh";
  }
}

// Retry-After as a moment: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
export function retryMoment(value, now = Date.now()) {
  if (value == null || value === "") return null;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return new Date(now + Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : new Date(at);
}

// The per-field messages in the user's language: the server sends them in English
// (`errors`) and Chinese (`errors_zh`); every screen reads `errors`.
export function localized(problem, lang = appLang()) {
  if (!problem || typeof problem !== "object") return problem;
  if (lang === "zh" && problem.errors_zh) {
    return { ...problem, errors: problem.errors_zh, errors_en: problem.errors };
  }
  return problem;
}

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

function isJson(response) {
  // application/json, application/problem+json, application/geo+json (the map feed)…
  const type = response.headers.get("Content-Type") || "";
  return /application\/([\w.-]+\+)?json/.test(type);
}

// The id our server (or the proxy in front of it) gave the request; a portal's page has none.
function requestIdOf(response) {
  const id = response.headers.get("X-Request-ID");
  return id && /^[A-Za-z0-9._:-]{1,64}$/.test(id) ? id : null;
}

export async function readAnswer(response) {
  // 204 No Content (logout) is an explicit success; portals answer 200/30x with HTML.
  if (response.status === 204) return null;
  if (!isJson(response)) {
    // Captive portals, proxies and error pages: not our server, whatever the status.
    throw new ApiError("portal", response.status, null, "not a JSON answer", null,
      requestIdOf(response));
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError("portal", response.status, null, "unreadable JSON");
  }
  if (response.ok) return body;
  const kind = response.status === 401 || body?.code === "auth.csrf_failed" ? "auth"
    : response.status >= 500 || response.status === 429 ? "server" : "client";
  throw new ApiError(kind, response.status, localized(body), undefined,
    retryMoment(response.headers.get("Retry-After")), requestIdOf(response));
}

export async function api(method, path, { body, timeout = 20000 } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  // The server words its problems in the language asked for (`message`).
  const headers = { Accept: "application/json", "Accept-Language": appLang() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrfToken && method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body), signal: controller.signal,
    });
  } catch (error) {
    throw new ApiError("offline", 0, null, error.name === "AbortError" ? "timed out" : "network");
  } finally {
    clearTimeout(timer);
  }
  return readAnswer(response);
}

// The receipt the local store's upload link answers with once it has stored the photo
// (an S3 store's answer is no JSON of ours, or not readable here): or null.
function uploadReceipt(xhr) {
  if (!(xhr.getResponseHeader?.("Content-Type") || "").startsWith("application/json")) return null;
  try {
    const receipt = JSON.parse(xhr.responseText)?.evidence;
    return receipt && typeof receipt === "object" ? receipt : null;
  } catch {
    return null;
  }
}

// PUT the photo's bytes where the declaration said, reporting progress (fetch cannot).
// Resolves with the upload's receipt (uploadReceipt) or null.
export function upload(target, blob, onProgress, timeout = 120000) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(target.method || "PUT", target.url);
    xhr.timeout = timeout;
    for (const [name, value] of Object.entries(target.headers || {})) {
      // Browsers set Content-Length themselves and refuse to be told.
      if (name.toLowerCase() !== "content-length") xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded / event.total);
    };
    xhr.onload = () => {
      // The local store's id (same origin); an S3 store's header is not readable here.
      const id = requestIdOf({ headers: { get: (name) => xhr.getResponseHeader?.(name) ?? null } });
      if (xhr.status >= 200 && xhr.status < 300) resolve(uploadReceipt(xhr));
      else if (xhr.status === 401) reject(new ApiError("auth", 401, null, undefined, null, id));
      else if (xhr.status >= 500 || xhr.status === 0) reject(new ApiError("server", xhr.status, null, undefined, null, id));
      else reject(new ApiError("client", xhr.status, null, `upload refused (${xhr.status})`, null, id));
    };
    xhr.onerror = () => reject(new ApiError("offline", 0, null, "network"));
    xhr.ontimeout = () => reject(new ApiError("offline", 0, null, "timed out"));
    xhr.send(blob);
  });
}

// Is the server really there? A real request, not navigator.onLine.
export async function probe() {
  try {
    await api("GET", "/api/health", { timeout: 8000 });
    return true;
  } catch (error) {
    // A 503 health answer is still our server talking.
    return error.kind === "server" && error.problem !== null;
  }
}
