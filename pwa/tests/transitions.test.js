// Case actions taken on the phone (start, submit) go through the outbox: sent in order,
// each with the version it saw; a version conflict is kept with what changed; other
// refusals are kept with the server's reason. Fake IndexedDB and a scripted fetch.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;

const { db } = await import("../js/db.js");
const outbox = await import("../js/outbox.js");

const json = (status, body) => new Response(JSON.stringify(body), {
  status, headers: { "Content-Type": status < 400 ? "application/json" : "application/problem+json" },
});

let calls;
let bodies;
let routes;

globalThis.fetch = async (path, init = {}) => {
  const line = `${init.method || "GET"} ${path}`;
  calls.push(line);
  if (init.body) bodies.push(JSON.parse(init.body));
  for (const [pattern, answer] of routes) {
    if (pattern.test(line)) return answer(init);
  }
  throw new TypeError("network down");
};

const CASE = "case-7";

async function reset() {
  const database = await db();
  for (const store of ["outbox", "blobs", "previews", "sent", "cache", "meta"]) {
    await database.clear(store);
  }
  Object.assign(outbox.status, { running: false, needsLogin: false, lastError: null, progress: {} });
  calls = [];
  bodies = [];
  routes = [];
  outbox.setUser("inspector-1");
}

beforeEach(reset);

// The server: applies an action on the version it is at, answers the case.
function server({ version = 3, status = "dispatched" } = {}) {
  const current = { version, status };
  const next = { start: "in_progress", submit: "submitted" };
  routes.push([/POST \/api\/cases\/case-7\/transitions$/, (init) => {
    const body = JSON.parse(init.body);
    if (body.version !== current.version) {
      return json(409, { code: "case.version_conflict", detail: "changed", current_version: current.version,
        status: current.status, unit: { id: "u2", name: "西城街道" }, changes: [] });
    }
    current.version += 1;
    current.status = next[body.action];
    return json(200, { id: CASE, version: current.version, status: current.status });
  }]);
  return current;
}

test("an action is sent with the time the user acted, not the time it goes out", async () => {
  // Submitted at 23:50 (Beijing) offline; the phone is back on line the next morning.
  const item = await outbox.saveTransition({ caseId: CASE, action: "start", params: {}, version: 3 });
  const database = await db();
  await database.put("outbox", { ...item, actedAt: "2026-12-04T15:50:00.000Z" });
  server();
  await outbox.syncNow({ force: true });
  const body = bodies.at(-1);
  assert.equal(body.device_time, "2026-12-04T15:50:00.000Z");
  assert.ok(Date.parse(body.sent_at) > Date.parse(body.device_time));
});

test("a check is sent with the time it was saved, not its draft's start nor the send", async () => {
  await outbox.saveVisit({ id: "33333333-3333-4333-8333-333333333333", caseId: CASE,
    payload: { kind: "site_check" } }, { draft: true });
  const draft = (await outbox.items())[0];
  assert.equal(draft.actedAt, undefined);
  await outbox.saveVisit({ id: draft.id, caseId: CASE, payload: { kind: "site_check" } },
    { draft: false });
  const database = await db();
  const saved = await database.get("outbox", draft.id);
  assert.ok(saved.actedAt);
  await database.put("outbox", { ...saved, actedAt: "2026-12-04T15:50:00.000Z" });
  routes.push([/POST \/api\/cases\/case-7\/visits$/, (init) => json(201, {
    id: "v-1", client_id: JSON.parse(init.body).client_id })]);
  await outbox.syncNow({ force: true });
  const body = bodies.at(-1);
  assert.equal(body.device_time, "2026-12-04T15:50:00.000Z");
  assert.ok(Date.parse(body.sent_at) > Date.parse(body.device_time));
});

test("an action saved offline waits, then is sent with its client id and version", async () => {
  const item = await outbox.saveTransition({ caseId: CASE, action: "start", params: { note: "到场" },
    version: 3 });
  await outbox.syncNow({ force: true }); // no network
  const [kept] = await outbox.items();
  assert.equal(kept.state, "queued");
  assert.equal(kept.lastError.kind, "offline");
  const current = server();
  await outbox.syncNow({ force: true });
  assert.deepEqual(await outbox.items(), []);
  const { device_time: deviceTime, sent_at: sentAt, ...body } = bodies.at(-1);
  assert.deepEqual(body, { note: "到场", action: "start", version: 3, client_id: item.clientId });
  assert.equal(deviceTime, item.actedAt);
  assert.ok(sentAt >= deviceTime);
  assert.equal(current.status, "in_progress");
  const sent = await (await db()).get("sent", item.id);
  assert.equal(sent.version, 4);
});

test("start then submit offline: submit goes second, on the version start produced", async () => {
  await outbox.saveTransition({ caseId: CASE, action: "start", params: {}, version: 3 });
  await outbox.saveTransition({ caseId: CASE, action: "submit",
    params: { verdict: "true", result: "已整改" }, version: 3 });
  const current = server();
  await outbox.syncNow({ force: true });
  assert.deepEqual(await outbox.items(), []);
  assert.deepEqual(bodies.map((b) => [b.action, b.version]), [["start", 3], ["submit", 4]]);
  assert.equal(current.status, "submitted");
});

test("a version conflict is kept with what changed, not dropped", async () => {
  const item = await outbox.saveTransition({ caseId: CASE, action: "start", params: {}, version: 3 });
  const changes = [{ seq: 9, at: "2026-03-02T10:00:00Z", kind: "transferred",
    actor: { id: "r1", name: "陈静" }, data: { reason: "属西城街道辖区" } }];
  routes.push([/transitions$/, () => json(409, { code: "case.version_conflict",
    detail: "The case changed", current_version: 4, status: 409, case_status: "dispatched",
    unit: { id: "u2", name: "西城街道" }, changes })]);
  await outbox.syncNow({ force: true });
  const [kept] = await outbox.items();
  assert.equal(kept.id, item.id);
  assert.equal(kept.state, "conflict");
  assert.equal(kept.conflict.current_version, 4);
  assert.equal(kept.conflict.status, "dispatched", "the case's status, not the HTTP one");
  assert.equal(kept.conflict.unit.name, "西城街道");
  assert.deepEqual(kept.conflict.changes, changes);
  calls.length = 0;
  await outbox.syncNow({ force: true });
  assert.equal(calls.length, 0, "a conflict is not resent on its own");
});

test("retry on the current version sends the action again with that version", async () => {
  const item = await outbox.saveTransition({ caseId: CASE, action: "start", params: {}, version: 2 });
  server({ version: 3 });
  await outbox.syncNow({ force: true });
  assert.equal((await outbox.items())[0].state, "conflict");
  await outbox.retryOnCurrent(item.id);
  assert.deepEqual(await outbox.items(), []);
  const [first, second] = bodies;
  assert.equal(second.version, 3);
  assert.notEqual(second.client_id, first.client_id, "a new attempt, a new client id");
});

test("retry on the current version keeps the time the user acted", async () => {
  const item = await outbox.saveTransition({ caseId: CASE, action: "start", params: {}, version: 2 });
  const actedAt = "2026-12-04T08:00:00.000Z"; // done offline, hours before the conflict
  await outbox.updateItem(item.id, { actedAt });
  server({ version: 3 });
  await outbox.syncNow({ force: true });
  await outbox.retryOnCurrent(item.id);
  assert.deepEqual(await outbox.items(), []);
  const [first, second] = bodies;
  assert.equal(first.device_time, actedAt);
  assert.equal(second.device_time, actedAt, "the server bounds it by the phone's last contact");
});

test("discard my action removes only a refused item", async () => {
  const item = await outbox.saveTransition({ caseId: CASE, action: "start", params: {}, version: 3 });
  assert.equal(await outbox.discardItem(item.id), false, "a queued action is not discarded");
  server({ version: 5 });
  await outbox.syncNow({ force: true });
  assert.equal(await outbox.discardItem(item.id), true);
  assert.deepEqual(await outbox.items(), []);
});

for (const [status, code, detail] of [
  [409, "case.action_not_allowed", "The case is closed."],
  [403, "case.action_forbidden", "Not your unit."],
  [422, "case.bad_params", "Bad parameters"],
]) {
  test(`a ${status} ${code} is kept as refused with the server's detail`, async () => {
    await outbox.saveTransition({ caseId: CASE, action: "submit", params: {}, version: 3 });
    routes.push([/transitions$/, () => json(status, { code, detail,
      ...(status === 422 ? { errors: { verdict: ["required"] } } : { allowed_actions: [] }) })]);
    await outbox.syncNow({ force: true });
    const [kept] = await outbox.items();
    assert.equal(kept.state, "failed");
    assert.equal(kept.lastError.code, code);
    assert.match(kept.lastError.message, new RegExp(detail));
    if (status === 422) assert.match(kept.lastError.message, /verdict: required/);
  });
}

test("an action waits behind the earlier one it builds on while that one is refused", async () => {
  await outbox.saveTransition({ caseId: CASE, action: "start", params: {}, version: 3 });
  await outbox.saveTransition({ caseId: CASE, action: "submit", params: {}, version: 3 });
  server({ version: 4 });
  await outbox.syncNow({ force: true });
  const all = await outbox.items();
  const start = all.find((i) => i.action === "start");
  const submit = all.find((i) => i.action === "submit");
  assert.equal(start.state, "conflict");
  assert.equal(submit.state, "queued");
  assert.equal(bodies.length, 1, "submit is not sent ahead of its start");
});

test("an HTML 200 (a Wi-Fi login page) does not count as applied", async () => {
  await outbox.saveTransition({ caseId: CASE, action: "start", params: {}, version: 3 });
  routes.push([/./, () => new Response("<html>login</html>", { status: 200,
    headers: { "Content-Type": "text/html" } })]);
  await outbox.syncNow({ force: true });
  const [kept] = await outbox.items();
  assert.equal(kept.state, "queued");
  assert.equal(kept.lastError.kind, "portal");
});

test("another user's action waits for them", async () => {
  await outbox.saveTransition({ caseId: CASE, action: "start", params: {}, version: 3 });
  outbox.setUser("inspector-2");
  server();
  await outbox.syncNow({ force: true });
  assert.equal(calls.length, 0);
  outbox.setUser("inspector-1");
  await outbox.syncNow({ force: true });
  assert.deepEqual(await outbox.items(), []);
});
