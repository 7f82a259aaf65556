// Outbox logic in Node: fake IndexedDB, a scripted fetch and XHR. Fast checks of the
// rules the browser tests exercise end to end.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;

const { db } = await import("../js/db.js");
const outbox = await import("../js/outbox.js");
const { sniffType } = await import("../js/capture.js");

const json = (status, body) => new Response(JSON.stringify(body), {
  status, headers: { "Content-Type": status < 400 ? "application/json" : "application/problem+json" },
});

let calls;
let routes;

globalThis.fetch = async (path, init = {}) => {
  calls.push(`${init.method || "GET"} ${path}`);
  for (const [pattern, answer] of routes) {
    if (pattern.test(`${init.method || "GET"} ${path}`)) return answer(init);
  }
  throw new TypeError("network down");
};

class FakeXHR {
  static status = 201;
  static answer = null; // the upload's JSON answer, if any (the local store's)
  open(method, url) { this.method = method; this.url = url; }
  setRequestHeader() {}
  getResponseHeader(name) {
    return name === "Content-Type" && FakeXHR.answer ? "application/json" : null;
  }
  send(body) {
    calls.push(`${this.method} ${this.url} (${body.size} bytes)`);
    this.status = FakeXHR.status;
    this.responseText = FakeXHR.answer ? JSON.stringify(FakeXHR.answer) : "";
    setTimeout(() => this.onload(), 0);
  }
  upload = {};
}
globalThis.XMLHttpRequest = FakeXHR;

const PHOTO = { id: "11111111-1111-4111-8111-111111111111", caseId: "case-1", sha256: "ab".repeat(32),
  size: 3, contentType: "image/jpeg", capturedAt: "2026-11-23T15:05:00Z", geo: null };

async function reset() {
  const database = await db();
  for (const store of ["outbox", "blobs", "previews", "sent", "cache", "meta"]) {
    await database.clear(store);
  }
  Object.assign(outbox.status, { running: false, needsLogin: false, lastError: null, progress: {} });
  calls = [];
  routes = [];
  FakeXHR.status = 201;
  FakeXHR.answer = null;
}

beforeEach(reset);

function serverStores(sha = PHOTO.sha256) {
  routes.push([/POST \/api\/evidence$/, () => json(201, {
    id: "ev-1", client_id: PHOTO.id, state: "pending",
    upload: { method: "PUT", url: "/api/blobs/token", headers: { "Content-Type": "image/jpeg" } } })]);
  routes.push([/complete$/, () => json(200, { id: "ev-1", client_id: PHOTO.id, state: "stored", sha256: sha })]);
}

test("a photo leaves the outbox on a receipt carrying its SHA-256", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  serverStores();
  await outbox.syncNow({ force: true });
  assert.deepEqual(await outbox.items(), []);
  const sent = await (await db()).get("sent", PHOTO.id);
  assert.equal(sent.serverId, "ev-1");
  assert.deepEqual(calls, ["POST /api/evidence", "PUT /api/blobs/token (3 bytes)",
    "POST /api/evidence/ev-1/complete"]);
});

test("a photo the local store completed as it arrived needs no complete call", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  serverStores();
  FakeXHR.answer = { key: "staging/ev-1/x", size: 3,
    evidence: { id: "ev-1", state: "stored", sha256: PHOTO.sha256 } };
  await outbox.syncNow({ force: true });
  assert.deepEqual(await outbox.items(), []);
  assert.equal((await (await db()).get("sent", PHOTO.id)).serverId, "ev-1");
  assert.deepEqual(calls, ["POST /api/evidence", "PUT /api/blobs/token (3 bytes)"]);
});

test("an upload answer without a stored receipt is followed by the complete call", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  serverStores();
  FakeXHR.answer = { key: "staging/ev-1/x", size: 3 }; // refused as it arrived, or not ours
  await outbox.syncNow({ force: true });
  assert.deepEqual(await outbox.items(), []);
  assert.deepEqual(calls, ["POST /api/evidence", "PUT /api/blobs/token (3 bytes)",
    "POST /api/evidence/ev-1/complete"]);
});

test("a stored receipt from the upload with another hash keeps the photo", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  serverStores();
  FakeXHR.answer = { evidence: { id: "ev-1", state: "stored", sha256: "cd".repeat(32) } };
  await outbox.syncNow({ force: true });
  const [item] = await outbox.items();
  assert.equal(item.lastError.kind, "portal");
  assert.ok(await (await db()).get("blobs", PHOTO.id), "the bytes are still on the phone");
});

test("a receipt with another hash keeps the photo", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  serverStores("cd".repeat(32));
  await outbox.syncNow({ force: true });
  const [item] = await outbox.items();
  assert.equal(item.id, PHOTO.id);
  assert.equal(item.lastError.kind, "portal");
  assert.ok(await (await db()).get("blobs", PHOTO.id), "the bytes are still on the phone");
});

test("a captive portal's 200 HTML is not a success", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  routes.push([/./, () => new Response("<html>login</html>", {
    status: 200, headers: { "Content-Type": "text/html" } })]);
  await outbox.syncNow({ force: true });
  const [item] = await outbox.items();
  assert.equal(item.state, "queued");
  assert.equal(item.lastError.kind, "portal");
  assert.ok(item.nextAttemptAt > Date.now(), "it backs off before the next try");
});

test("an expired session stops the sync and asks to log in", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  routes.push([/./, () => json(401, { code: "auth.session_expired", detail: "log in" })]);
  await outbox.syncNow({ force: true });
  assert.equal(outbox.status.needsLogin, true);
  assert.equal((await outbox.items()).length, 1);
  assert.equal(await outbox.syncNow({ force: true }), "busy", "no sync until logged in");
});

test("a permanent refusal is kept, visible, with its reason", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  routes.push([/POST \/api\/evidence$/, () => json(422, {
    code: "evidence.unsupported_type", detail: "Photos must be JPEG or HEIC." })]);
  await outbox.syncNow({ force: true });
  const [item] = await outbox.items();
  assert.equal(item.state, "failed");
  assert.equal(item.lastError.message, "Photos must be JPEG or HEIC.");
});

test("a photo waits for its check, which is sent first", async () => {
  const visitId = "22222222-2222-4222-8222-222222222222";
  await outbox.savePhoto({ ...PHOTO, visitClientId: visitId }, new Blob(["abc"]));
  await outbox.saveVisit({ id: visitId, caseId: "case-1", payload: { kind: "night_check" } },
    { draft: true });
  serverStores();
  await outbox.syncNow({ force: true });
  assert.equal(calls.length, 0, "a draft check holds its photos back");
  await outbox.saveVisit({ id: visitId, caseId: "case-1", payload: { kind: "night_check" } },
    { draft: false });
  routes.push([/visits$/, () => json(201, { id: "visit-9", client_id: visitId })]);
  let declared;
  routes.unshift([/POST \/api\/evidence$/, (init) => {
    declared = JSON.parse(init.body);
    return json(201, { id: "ev-1", client_id: PHOTO.id, state: "pending",
      upload: { method: "PUT", url: "/api/blobs/t", headers: {} } });
  }]);
  await outbox.syncNow({ force: true });
  assert.equal(calls[0], "POST /api/cases/case-1/visits");
  assert.equal(declared.visit_id, "visit-9");
  assert.deepEqual(await outbox.items(), []);
});

test("no network: everything stays, the sync stops at the first failure", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  await outbox.savePhoto({ ...PHOTO, id: "33333333-3333-4333-8333-333333333333" }, new Blob(["x"]));
  await outbox.syncNow({ force: true });
  assert.equal(calls.length, 1, "one attempt, not one per item");
  assert.equal((await outbox.items()).length, 2);
});

test("backoff grows and stays under five minutes", () => {
  assert.ok(outbox.backoff(1) >= 2000 && outbox.backoff(1) <= 4000);
  assert.ok(outbox.backoff(30) <= 5 * 60 * 1000);
});

test("photo types come from the bytes", () => {
  const bytes = (...values) => new Uint8Array([...values, ...new Array(16).fill(0)]).buffer;
  assert.equal(sniffType(bytes(0xff, 0xd8, 0xff), ""), "image/jpeg");
  const heic = new TextEncoder().encode("\0\0\0\x18ftypheic\0\0\0\0").buffer;
  assert.equal(sniffType(heic, ""), "image/heic");
  assert.equal(sniffType(bytes(1, 2, 3), "image/png"), "image/png");
});

test("a sync asked for during a sync runs again right after", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  const second = { ...PHOTO, id: "44444444-4444-4444-8444-444444444444" };
  routes.push([/POST \/api\/evidence$/, async (init) => {
    const body = JSON.parse(init.body);
    if (body.client_id === PHOTO.id) await gate; // the first pass is still busy
    return json(200, { id: `ev-${body.client_id}`, client_id: body.client_id, state: "stored",
      sha256: PHOTO.sha256 });
  }]);
  const first = outbox.syncNow({ force: true });
  await new Promise((resolve) => setTimeout(resolve, 10));
  await outbox.savePhoto(second, new Blob(["abc"])); // saved after the pass read the queue
  assert.equal(await outbox.syncNow({ force: true }), "queued");
  release();
  await first;
  assert.deepEqual(await outbox.items(), [], "both sent without waiting for a timer");
});

test("a late draft write never turns a saved check back into a draft", async () => {
  const visitId = "55555555-5555-4555-8555-555555555555";
  await outbox.saveVisit({ id: visitId, caseId: "c", payload: { kind: "site_check" } }, { draft: false });
  await outbox.saveVisit({ id: visitId, caseId: "c", payload: { kind: "site_check" } }, { draft: true });
  const [item] = await outbox.items();
  assert.equal(item.state, "queued");
});

test("items are sent only in the session of whoever captured them", async () => {
  outbox.setUser("user-a");
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  serverStores();
  outbox.setUser("user-b"); // a colleague logs in on the same phone
  await outbox.syncNow({ force: true });
  assert.equal(calls.length, 0);
  assert.equal((await outbox.items())[0].userId, "user-a");
  outbox.setUser("user-a");
  await outbox.syncNow({ force: true });
  assert.deepEqual(await outbox.items(), []);
  outbox.setUser(null);
});

const minutesAgo = (n) => new Date(Date.now() - n * 60000).toISOString();

test("a declaration whose answer was lost is resent exactly, late fix or not", async () => {
  const photo = { ...PHOTO, awaitingFix: true, capturedAt: minutesAgo(3) };
  await outbox.savePhoto(photo, new Blob(["abc"]));
  const bodies = [];
  routes.push([/POST \/api\/evidence$/, (init) => {
    bodies.push(JSON.parse(init.body));
    if (bodies.length === 1) throw new TypeError("answer lost on the way back");
    return json(200, { id: "ev-1", client_id: PHOTO.id, state: "stored", sha256: PHOTO.sha256 });
  }]);
  await outbox.syncNow({ force: true });
  // The first fix arrives now, after the declaration may have reached the server.
  await outbox.attachLateFix({ lat: 24.3, lon: 109.4, accuracy_m: 5,
    fixed_at: new Date().toISOString(), source: "gps" });
  await outbox.syncNow({ force: true });
  assert.equal(bodies.length, 2);
  const strip = ({ device_time, ...rest }) => rest;
  assert.deepEqual(strip(bodies[1]), strip(bodies[0]));
  assert.equal(bodies[1].geo, null);
  assert.deepEqual(await outbox.items(), []);
});

test("a late fix is attached only within minutes of the photo", async () => {
  await outbox.savePhoto({ ...PHOTO, awaitingFix: true, capturedAt: minutesAgo(60) }, new Blob(["a"]));
  await outbox.attachLateFix({ lat: 1, lon: 2, accuracy_m: 5, fixed_at: new Date().toISOString() });
  assert.equal((await outbox.items())[0].geo, null);
  await outbox.attachLateFix({ lat: 1, lon: 2, accuracy_m: 5, fixed_at: minutesAgo(58) });
  assert.equal((await outbox.items())[0].geo.source, "late_fix");
});

test("a photo without a fix waits a little for one, then goes without", async () => {
  await outbox.savePhoto({ ...PHOTO, awaitingFix: true, capturedAt: new Date().toISOString() },
    new Blob(["abc"]));
  serverStores();
  await outbox.syncNow({ force: true });
  assert.equal(calls.length, 0, "held while a fix may still come");
  await outbox.updateItem(PHOTO.id, { capturedAt: minutesAgo(3) });
  await outbox.syncNow({ force: true });
  assert.deepEqual(await outbox.items(), []);
});

test("a check refused for its fields holds its photos until mended or sent alone", async () => {
  const visitId = "66666666-6666-4666-8666-666666666666";
  await outbox.saveVisit({ id: visitId, caseId: "case-1", payload: { kind: "night_check" } },
    { draft: false });
  await outbox.savePhoto({ ...PHOTO, visitClientId: visitId }, new Blob(["abc"]));
  routes.push([/visits$/, () => json(422, { code: "request.invalid", detail: "bad",
    errors: { measurements: { 0: { value_dba: ["too high"] } } } })]);
  let declared;
  routes.push([/POST \/api\/evidence$/, (init) => {
    declared = JSON.parse(init.body);
    return json(200, { id: "ev-1", client_id: PHOTO.id, state: "stored", sha256: PHOTO.sha256 });
  }]);
  await outbox.syncNow({ force: true });
  const [visit, photo] = await outbox.items();
  assert.equal(visit.state, "failed");
  assert.match(visit.lastError.message, /measurements\.0\.value_dba: too high/);
  assert.deepEqual(visit.lastError.fields, { measurements: { 0: { value_dba: ["too high"] } } });
  assert.ok(outbox.isMendable(visit));
  assert.equal(photo.state, "queued", "held for the mended check");
  assert.equal(declared, undefined);
  // The inspector may still let them go to the case without it.
  await outbox.sendPhotosAlone(visitId);
  assert.equal(declared.visit_id, undefined, "sent to the case without the refused check");
});

test("a refused check that cannot be mended does not strand its photos", async () => {
  const visitId = "66666666-6666-4666-8666-666666666667";
  await outbox.saveVisit({ id: visitId, caseId: "case-1", payload: { kind: "night_check" } },
    { draft: false });
  await outbox.savePhoto({ ...PHOTO, visitClientId: visitId }, new Blob(["abc"]));
  routes.push([/visits$/, () => json(409, { code: "case.closed", detail: "closed" })]);
  let declared;
  routes.push([/POST \/api\/evidence$/, (init) => {
    declared = JSON.parse(init.body);
    return json(200, { id: "ev-1", client_id: PHOTO.id, state: "stored", sha256: PHOTO.sha256 });
  }]);
  await outbox.syncNow({ force: true });
  const [visit] = await outbox.items();
  assert.equal(visit.state, "failed");
  assert.equal(outbox.isMendable(visit), false);
  assert.equal(declared.visit_id, undefined);
});

test("a mended check is sent again under its client id, then its photos with it", async () => {
  const visitId = "77777777-7777-4777-8777-777777777777";
  const payload = { kind: "night_check", started_at: "2026-12-04T14:10:00Z",
    measurements: [{ kind: "noise", value_dba: 58, period: "night", background_dba: -3 }] };
  await outbox.saveVisit({ id: visitId, caseId: "case-1", payload }, { draft: false });
  await outbox.savePhoto({ ...PHOTO, visitClientId: visitId }, new Blob(["abc"]));
  const bodies = [];
  routes.push([/visits$/, (init) => {
    const body = JSON.parse(init.body);
    bodies.push(body);
    if (body.measurements[0].background_dba < 0) {
      return json(422, { code: "request.invalid", detail: "bad",
        errors: { measurements: { 0: { background_dba: ["Must be between 0 and 200 dB(A)."] } } } });
    }
    return json(201, { id: "visit-1", client_id: body.client_id });
  }]);
  let declared;
  routes.push([/POST \/api\/evidence$/, (init) => {
    declared = JSON.parse(init.body);
    return json(200, { id: "ev-1", client_id: PHOTO.id, state: "stored", sha256: PHOTO.sha256 });
  }]);
  await outbox.syncNow({ force: true });
  await outbox.syncNow({ force: true }); // retrying as it stands sends nothing
  assert.equal(bodies.length, 1);
  const mended = await outbox.mend(visitId);
  assert.equal(mended.state, "draft");
  assert.deepEqual(mended.refusal.fields.measurements[0], { background_dba: ["Must be between 0 and 200 dB(A)."] });
  const [, photo] = await outbox.items();
  assert.equal(photo.state, "queued", "nothing else changed");
  await outbox.saveVisit({ id: visitId, caseId: "case-1", payload: { ...payload,
    measurements: [{ ...payload.measurements[0], background_dba: 40 }] } }, { draft: false });
  assert.equal((await outbox.items())[0].refusal, null);
  await outbox.syncNow({ force: true });
  assert.deepEqual(await outbox.items(), []);
  assert.equal(bodies.length, 2);
  assert.equal(bodies[1].client_id, visitId, "the same client id");
  assert.equal(bodies[1].started_at, payload.started_at);
  assert.equal(declared.visit_id, "visit-1", "the photo follows its mended check");
});

test("a 422 naming no field the check's form edits is not mended: its photos go alone", async () => {
  const visitId = "88888888-8888-4888-8888-888888888888";
  await outbox.saveVisit({ id: visitId, caseId: "case-1", payload: { kind: "night_check",
    measurements: [{ kind: "noise", value_dba: 58, source: "phone_estimate", device: "x" }] } },
  { draft: false });
  await outbox.savePhoto({ ...PHOTO, visitClientId: visitId }, new Blob(["abc"]));
  // The place and the estimate's own reading are not typed in the form: mending cannot help.
  routes.push([/visits$/, () => json(422, { code: "request.invalid", detail: "bad",
    errors: { location: { lat: ["Not a valid number."] }, measurements: { 0: { value_dba: ["too high"] } } } })]);
  let declared;
  routes.push([/POST \/api\/evidence$/, (init) => {
    declared = JSON.parse(init.body);
    return json(200, { id: "ev-1", client_id: PHOTO.id, state: "stored", sha256: PHOTO.sha256 });
  }]);
  await outbox.syncNow({ force: true });
  const [visit] = await outbox.items();
  assert.equal(visit.state, "failed");
  assert.equal(outbox.isMendable(visit), false);
  assert.ok(declared, "the photo was sent");
  assert.equal(declared.visit_id, undefined, "to the case, without the refused check");
  // A field the form does edit makes it mendable (the estimate's calibration, a finding).
  assert.equal(outbox.namesMendField({ measurements: { 0: { calibration_offset_db: ["x"] } } },
    visit.payload), true);
  assert.equal(outbox.namesMendField({ findings: ["x"] }), true);
  assert.equal(outbox.namesMendField({ started_at: ["x"] }), false);
});

test("a refused check keeps the server's messages in the user's language too", async () => {
  const visitId = "99999999-9999-4999-8999-999999999999";
  await outbox.saveVisit({ id: visitId, caseId: "case-1", payload: { kind: "night_check" } },
    { draft: false });
  const saved = globalThis.localStorage;
  const memory = new Map([["fieldcase.lang", "zh"]]);
  globalThis.localStorage = { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
  routes.push([/visits$/, () => json(422, { code: "request.invalid", detail: "bad",
    errors: { findings: ["Longer than 20000 characters."] },
    errors_zh: { findings: ["超过 20000 个字符。"] } })]);
  try {
    await outbox.syncNow({ force: true });
  } finally {
    globalThis.localStorage = saved;
  }
  const [visit] = await outbox.items();
  assert.ok(outbox.isMendable(visit));
  assert.deepEqual(visit.lastError.fields, { findings: ["Longer than 20000 characters."] });
  assert.deepEqual(visit.lastError.localFields, { findings: ["超过 20000 个字符。"] });
  const mended = await outbox.mend(visitId);
  assert.deepEqual(mended.refusal.localFields, { findings: ["超过 20000 个字符。"] });
});

test("discarding a mended check lets its photos go to the case alone", async () => {
  const visitId = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
  await outbox.saveVisit({ id: visitId, caseId: "case-1", payload: { kind: "night_check" } },
    { draft: false });
  await outbox.savePhoto({ ...PHOTO, visitClientId: visitId }, new Blob(["abc"]));
  routes.push([/visits$/, () => json(422, { code: "request.invalid", detail: "bad",
    errors: { findings: ["Longer than 20000 characters."] } })]);
  await outbox.syncNow({ force: true });
  await outbox.mend(visitId);
  await outbox.discardDraft(visitId);
  const left = await outbox.items();
  assert.deepEqual(left.map((i) => i.id), [PHOTO.id], "the check goes, its photo stays");
  assert.equal(left[0].visitClientId, null);
  assert.ok(await (await db()).get("blobs", PHOTO.id), "with its bytes");
  let declared;
  routes.push([/POST \/api\/evidence$/, (init) => {
    declared = JSON.parse(init.body);
    return json(200, { id: "ev-1", client_id: PHOTO.id, state: "stored", sha256: PHOTO.sha256 });
  }]);
  await outbox.syncNow({ force: true });
  assert.equal(declared.visit_id, undefined);
  assert.deepEqual(await outbox.items(), []);
});

test("discarding a draft never offered takes its photos with it", async () => {
  const visitId = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
  await outbox.saveVisit({ id: visitId, caseId: "case-1", payload: { kind: "night_check" } },
    { draft: true });
  await outbox.savePhoto({ ...PHOTO, visitClientId: visitId }, new Blob(["abc"]));
  await outbox.discardDraft(visitId);
  assert.deepEqual(await outbox.items(), []);
});
