// Tiny DOM helpers: escaped HTML templates, formatting, toasts.
import { getLang, has, t } from "./i18n.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// Markup that is already safe: nested templates are inserted as they are.
class Safe {
  constructor(text) {
    this.__raw = text;
  }

  toString() {
    return this.__raw;
  }
}

export function raw(text) {
  return new Safe(text);
}

function piece(value) {
  if (Array.isArray(value)) return value.map(piece).join("");
  return value instanceof Safe ? value.__raw : esc(value);
}

// html`<p>${text}</p>`: values are escaped unless they are templates themselves or raw().
export function html(strings, ...values) {
  return new Safe(strings.reduce((out, part, i) => out + piece(values[i - 1]) + part));
}

// A URL from data, for href and src: http(s), blob: and this site's own paths pass; any
// other scheme (javascript:, data:) becomes an inert "#".
export function safeUrl(value) {
  const text = String(value ?? "");
  try {
    const { protocol } = new URL(text, globalThis.location?.href || "http://localhost/");
    return ["http:", "https:", "blob:"].includes(protocol) ? text : "#";
  } catch {
    return "#";
  }
}

export function fmtTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(getLang() === "zh" ? "zh-CN" : "en-GB", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  });
}

// A deadline: one that ends at midnight is said as 24:00 of its last day (the Civil Code's
// reading of a period, art. 203), never as 00:00 of the next, which reads a day late.
export function fmtDue(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  if (at.getHours() !== 0 || at.getMinutes() !== 0) return fmtTime(iso);
  const day = new Date(at.getTime() - 60000).toLocaleDateString(getLang() === "zh" ? "zh-CN" : "en-GB", {
    year: "numeric", month: "2-digit", day: "2-digit",
  });
  return `${day} 24:00`;
}

export function fmtDistance(metres) {
  if (metres == null) return "";
  return metres < 1000 ? `${Math.round(metres)} m` : `${(metres / 1000).toFixed(1)} km`;
}

export function distanceM(a, b) {
  if (!a || !b) return null;
  const rad = (d) => (d * Math.PI) / 180;
  const h = Math.sin(rad(b.lat - a.lat) / 2) ** 2
    + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(rad(b.lon - a.lon) / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

// error: an ApiError whose request id is shown small under the message (errorRef).
export function toast(message, kind = "info", error = null) {
  const box = document.getElementById("toast");
  box.textContent = message;
  appendRef(box, error);
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(box.timer);
  box.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

// "HH:MM" of a moment, or the date too when it is not today.
function clockTime(at) {
  const when = new Date(at);
  const locale = getLang() === "zh" ? "zh-CN" : "en-GB";
  const hhmm = when.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", hour12: false });
  return when.toDateString() === new Date().toDateString() ? hhmm : fmtTime(when.toISOString());
}

export function errorText(error) {
  if (!error) return "";
  if (error.kind === "offline") return t("noNetwork");
  if (error.kind === "portal") return t("portal");
  // A limit is not an outage: say when to come back (Retry-After), never "server down".
  if (error.status === 429) {
    return error.retryAt ? t("tooManyUntil").replace("{time}", clockTime(error.retryAt)) : t("tooMany");
  }
  if (error.kind === "server" && !error.problem) return t("serverDown");
  if (error.kind === "auth") return t("needsLogin");
  // A refusal the app has words for is said in its own words; any other in the words the
  // server sends in both languages; the server's English detail only from an older server.
  const code = error.problem?.code;
  if (code && has(code)) return t(code);
  const said = error.problem?.messages;
  if (said?.[getLang()]) return said[getLang()];
  if (error.kind === "server") return t("serverDown");
  return error.problem?.detail || error.message || t("error");
}

// The server's id of the request that failed (X-Request-ID, problem+json `request_id`,
// the same in its log lines), so a user's screenshot finds them: "编号 Ref: 3f9c2a1b5e6d7a80".
// The server's own ids (16 characters) are shown whole; a longer one (a proxy's UUID) by
// its first 12 characters and "…": grep finds the log lines by that part as well.
// Takes an ApiError or an outbox item's lastError (both keep `requestId`).
export function refText(error) {
  const id = error?.requestId;
  if (typeof id !== "string" || !/^[A-Za-z0-9._:-]{1,64}$/.test(id)) return "";
  return t("errorRef").replace("{id}", id.length <= 16 ? id : `${id.slice(0, 12)}…`);
}

// The reference as markup, to put inside an error's element (after errorText).
export function errorRef(error) {
  const text = refText(error);
  return text ? html`<small class="error-ref">${text}</small>` : "";
}

// The reference under the text of an element filled with textContent.
export function appendRef(box, error) {
  const text = refText(error);
  if (!box || !text) return;
  const small = document.createElement("small");
  small.className = "error-ref";
  small.textContent = text;
  box.append(small);
}

// Nested problem messages ({"0": ["…"]} for a list) as plain lines.
export function flatMessages(value, prefix = "") {
  if (value == null) return [];
  if (typeof value === "string") return [prefix ? `${prefix}: ${value}` : value];
  if (Array.isArray(value)) return value.flatMap((x) => flatMessages(x, prefix));
  return Object.entries(value).flatMap(([k, x]) => flatMessages(x, prefix ? `${prefix}.${k}` : k));
}
