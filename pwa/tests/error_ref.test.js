// A server error shows the request's id (编号 Ref) small under its message: the id the
// server answered in X-Request-ID and problem+json `request_id`, and wrote in its log
// lines, so a user's screenshot finds them (issue 22).
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
const memory = new Map([["fieldcase.lang", "zh"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { setLang } = await import("../js/i18n.js");
const { appendRef, errorRef, errorText, refText } = await import("../js/ui.js");
const { ApiError, readAnswer } = await import("../js/api.js");

function answer(status, body, headers = {}, type = "application/problem+json") {
  const all = { "Content-Type": type, ...headers };
  return { status, ok: status < 400, headers: { get: (name) => all[name] ?? null },
    json: async () => body };
}

async function refusal(...args) {
  try {
    await readAnswer(answer(...args));
  } catch (error) {
    return error;
  }
  throw new Error("no refusal");
}

test("the id comes from the problem body, else from the X-Request-ID header", async () => {
  const failed = await refusal(500, { code: "server.error", request_id: "3f9c2a1b5e6d7a80" },
    { "X-Request-ID": "3f9c2a1b5e6d7a80" });
  assert.ok(failed instanceof ApiError);
  assert.equal(failed.requestId, "3f9c2a1b5e6d7a80");
  const older = await refusal(409, { code: "request.conflict" }, { "X-Request-ID": "abc123" });
  assert.equal(older.requestId, "abc123");
  // A 502 page from the proxy (not JSON) still carries the header when ours.
  const proxy = await refusal(502, null, { "X-Request-ID": "c0ffee00" }, "text/html");
  assert.equal(proxy.kind, "portal");
  assert.equal(proxy.requestId, "c0ffee00");
  // Anything that is not a plain id is not shown.
  const odd = await refusal(500, { code: "server.error" }, { "X-Request-ID": "<b>x</b>" });
  assert.equal(odd.requestId, null);
  assert.equal(refText(odd), "");
  assert.equal(refText(new ApiError("offline", 0, null, "network")), "");
});

test("the reference is said in Chinese first, in English when chosen", () => {
  const error = new ApiError("server", 500, { code: "server.error", request_id: "3f9c2a1b5e6d7a80",
    messages: { zh: "服务器出错", en: "Server error" } });
  setLang("zh");
  assert.equal(refText(error), "编号 Ref: 3f9c2a1b5e6d7a80");
  assert.equal(errorText(error), "服务器出错"); // the message itself is unchanged
  setLang("en");
  assert.equal(refText(error), "Ref: 3f9c2a1b5e6d7a80");
  setLang("zh");
});

test("a proxy's long id is shown by its first 12 characters, which grep finds", () => {
  const uuid = "6a1f0d4e-5b7c-4c39-9f1e-2d3a4b5c6d7e";
  const text = refText({ requestId: uuid });
  assert.equal(text, "编号 Ref: 6a1f0d4e-5b7…");
  const shown = text.replace(/^编号 Ref: /, "").replace(/…$/, "");
  assert.ok(uuid.startsWith(shown) && shown.length === 12);
  // The server's own ids (16 hex digits) are whole.
  assert.equal(refText({ requestId: "0123456789abcdef" }), "编号 Ref: 0123456789abcdef");
});

test("as markup: small, escaped, and nothing without an id", () => {
  const markup = String(errorRef({ requestId: "a1b2c3d4" }));
  assert.equal(markup, '<small class="error-ref">编号 Ref: a1b2c3d4</small>');
  assert.equal(String(errorRef({ requestId: null })), "");
  assert.equal(String(errorRef({ requestId: '"><script>' })), "");
  // An outbox item's kept lastError has it too.
  assert.match(String(errorRef({ kind: "client", status: 422, requestId: "x.y:z-1" })), /x\.y:z-1/);
});

test("under a message written as text", () => {
  const made = [];
  globalThis.document.createElement = (tag) => {
    const node = { tag, className: "", textContent: "" };
    made.push(node);
    return node;
  };
  const box = { children: [], append(node) { this.children.push(node); } };
  appendRef(box, { requestId: "a1b2c3d4" });
  assert.deepEqual(box.children, [{ tag: "small", className: "error-ref", textContent: "编号 Ref: a1b2c3d4" }]);
  appendRef(box, { requestId: null });
  assert.equal(box.children.length, 1);
});
