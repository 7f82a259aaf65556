// Revisits and door-to-door respondents in the outbox: a survey's respondents are their
// own items, each with its own client UUID, sent after their survey (to the survey's
// server id), exactly once; refusals kept with their reason. Fake IndexedDB and a
// scripted server that is idempotent on client ids, as the real one is.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;

const { db } = await import("../js/db.js");
const outbox = await import("../js/outbox.js");
const { baseType, sniffAudio } = await import("../js/capture.js");

const json = (status, body) => new Response(JSON.stringify(body), {
  status, headers: { "Content-Type": status < 400 ? "application/json" : "application/problem+json" },
});

let calls;
let routes;

globalThis.fetch = async (path, init = {}) => {
  const line = `${init.method || "GET"} ${path}`;
  calls.push(line);
  for (const [pattern, answer] of routes) {
    if (!pattern.test(line)) continue;
    const response = await answer(init);
    if (response) return response; // null: the next route answers
  }
  throw new TypeError("network down");
};

const CASE = "case-9";
const SURVEY = "aaaaaaaa-0000-4000-8000-000000000001";
const id = (n) => `bbbbbbbb-0000-4000-8000-${String(n).padStart(12, "0")}`;

// The server: revisits and respondents stored once per client id (a retry answers 200).
function server() {
  const store = { revisits: new Map(), respondents: new Map(), bodies: [] };
  routes.push([/POST \/api\/cases\/case-9\/revisits$/, (init) => {
    const body = JSON.parse(init.body);
    store.bodies.push(body);
    const known = store.revisits.get(body.client_id);
    if (known) return json(200, known);
    const revisit = { id: `rv-${store.revisits.size + 1}`, client_id: body.client_id, case_id: CASE,
      method: body.method, outcome: "open", respondents: [] };
    store.revisits.set(body.client_id, revisit);
    return json(201, revisit);
  }]);
  routes.push([/POST \/api\/revisits\/([\w-]+)\/respondents$/, (init) => {
    const body = JSON.parse(init.body);
    store.bodies.push(body);
    const known = store.respondents.get(body.client_id);
    if (known) return json(200, known);
    const answer = { id: `rs-${store.respondents.size + 1}`, client_id: body.client_id,
      revisit_id: "rv-1", kind: body.kind, satisfaction: body.satisfaction ?? null,
      revisit_satisfaction: "satisfied" };
    store.respondents.set(body.client_id, answer);
    return json(201, answer);
  }]);
  return store;
}

async function reset() {
  const database = await db();
  for (const store of ["outbox", "blobs", "previews", "sent", "cache", "meta"]) {
    await database.clear(store);
  }
  Object.assign(outbox.status, { running: false, needsLogin: false, lastError: null, progress: {},
    run: null });
  calls = [];
  routes = [];
  outbox.setUser("revisit-1");
}

beforeEach(reset);

const DOOR = { method: "door", at: "2026-11-23T19:05:00+08:00",
  questionnaire: { code: "residents-survey", version: 1 }, notes: "" };

async function startSurvey() {
  await outbox.saveRevisit({ id: SURVEY, caseId: CASE, label: "工地", payload: DOOR }, { draft: false });
}

async function respond(n, extra = {}) {
  return outbox.saveRespondent({ id: id(n), revisitClientId: SURVEY, caseId: CASE,
    payload: { kind: "resident", answers: { heard: true }, satisfaction: "satisfied", ...extra } });
}

test("a phone revisit is held while it is a draft, then sent once with its client id", async () => {
  const rid = "cccccccc-0000-4000-8000-000000000001";
  const payload = { method: "phone", at: "2026-11-23T10:00:00Z", attempts: [
    { at: "2026-11-23T09:00:00Z", outcome: "no_answer" }] };
  await outbox.saveRevisit({ id: rid, caseId: CASE, payload }, { draft: true });
  const store = server();
  await outbox.syncNow({ force: true });
  assert.equal(calls.length, 0, "a draft is not sent");
  await outbox.saveRevisit({ id: rid, caseId: CASE, payload }, { draft: false });
  await outbox.saveRevisit({ id: rid, caseId: CASE, payload: {} }, { draft: true }); // a late draft write
  await outbox.syncNow({ force: true });
  assert.deepEqual(calls, ["POST /api/cases/case-9/revisits"]);
  assert.equal(store.bodies[0].client_id, rid);
  assert.deepEqual(store.bodies[0].attempts, payload.attempts);
  assert.ok(store.bodies[0].device_time);
  assert.deepEqual(await outbox.items(), []);
  const sent = await (await db()).get("sent", rid);
  assert.equal(sent.serverId, "rv-1");
  assert.equal(sent.summary.method, "phone");
});

test("a revisit whose answer was lost is sent again with the same client id and body", async () => {
  await startSurvey();
  const bodies = [];
  routes.push([/revisits$/, (init) => {
    bodies.push(JSON.parse(init.body));
    if (bodies.length === 1) throw new TypeError("answer lost on the way back");
    return json(200, { id: "rv-1", client_id: SURVEY });
  }]);
  await outbox.syncNow({ force: true });
  assert.equal((await outbox.items())[0].lastError.kind, "offline");
  // A first fix now must not change what may already be on the server.
  assert.equal(await outbox.amendUnsent(SURVEY, (p) => ({ ...p, location: { lat: 1, lon: 2 } })), false);
  await outbox.syncNow({ force: true });
  const strip = ({ device_time, ...rest }) => rest;
  assert.deepEqual(strip(bodies[1]), strip(bodies[0]));
  assert.equal(bodies[1].client_id, SURVEY);
  assert.equal(bodies[1].location, undefined);
});

test("the survey's place is added while the survey has never been offered", async () => {
  await startSurvey();
  assert.equal(await outbox.amendUnsent(SURVEY, (p) => (p.location ? null
    : { ...p, location: { lat: 24.3, lon: 109.4, accuracy_m: 8 } })), true);
  const store = server();
  await outbox.syncNow({ force: true });
  assert.deepEqual(store.bodies[0].location, { lat: 24.3, lon: 109.4, accuracy_m: 8 });
});

test("22 respondents taken offline go after their survey, each once, in order", async () => {
  await startSurvey();
  for (let n = 1; n <= 22; n += 1) await respond(n);
  await outbox.syncNow({ force: true }); // no network
  assert.equal(calls.length, 1, "one try (the survey), then it stops");
  assert.equal((await outbox.items()).length, 23);
  const store = server();
  const seen = [];
  const stop = outbox.onChange((s) => { if (s.run) seen.push({ ...s.run }); });
  await outbox.syncNow({ force: true });
  stop();
  assert.deepEqual(await outbox.items(), []);
  assert.equal(calls.filter((c) => c.endsWith("/revisits")).length, 2);
  const posted = calls.filter((c) => c.includes("/respondents"));
  assert.equal(posted.length, 22);
  assert.ok(posted.every((c) => c === "POST /api/revisits/rv-1/respondents"));
  assert.deepEqual([...store.respondents.keys()], Array.from({ length: 22 }, (_, i) => id(i + 1)));
  assert.deepEqual(seen.at(-1), { total: 23, done: 23, failed: 0 }, "progress counts every item");
  const sent = (await (await db()).getAll("sent")).filter((s) => s.kind === "respondent");
  assert.equal(sent.length, 22);
  assert.ok(sent.every((s) => s.parent === SURVEY && s.summary.kind === "resident"));
});

test("a server gone mid-survey: the rest are sent later, none twice", async () => {
  await startSurvey();
  for (let n = 1; n <= 22; n += 1) await respond(n);
  const store = server();
  let served = 0;
  routes.unshift([/respondents$/, () => {
    served += 1;
    if (served > 10) throw new TypeError("signal lost");
    return null;
  }]);
  await outbox.syncNow({ force: true });
  assert.equal(store.respondents.size, 10);
  assert.equal((await outbox.items()).length, 12);
  routes.shift();
  await outbox.syncNow({ force: true });
  assert.equal(store.respondents.size, 22);
  assert.deepEqual(await outbox.items(), []);
  const posted = store.bodies.filter((b) => b.kind === "resident").map((b) => b.client_id);
  assert.equal(new Set(posted).size, 22, "each respondent posted with its own client id");
});

test("a refused respondent stays with its reason; the others go", async () => {
  await startSurvey();
  await respond(1);
  await respond(2, { answers: { heard: "loud" } });
  await respond(3);
  server();
  routes.unshift([/respondents$/, (init) => {
    const body = JSON.parse(init.body);
    if (body.client_id !== id(2)) return null;
    return json(422, { code: "revisit.invalid", detail: "The respondent's answers are not right",
      errors: { answers: { heard: ["true or false."] } } });
  }]);
  await outbox.syncNow({ force: true });
  const [kept] = await outbox.items();
  assert.equal(kept.id, id(2));
  assert.equal(kept.state, "failed");
  assert.match(kept.lastError.message, /answers\.heard: true or false\./);
});

test("a refused survey keeps its respondents on the phone, unsent", async () => {
  await startSurvey();
  await respond(1);
  routes.push([/revisits$/, () => json(422, { code: "revisit.invalid", detail: "bad",
    errors: { questionnaire: { version: ["residents-survey has no version 1."] } } })]);
  await outbox.syncNow({ force: true });
  const all = await outbox.items();
  assert.equal(all.find((i) => i.kind === "revisit").state, "failed");
  assert.equal(all.find((i) => i.kind === "respondent").state, "queued");
  assert.ok(!calls.some((c) => c.includes("respondents")));
});

test("a recording waits for its respondent, then is declared with its server id", async () => {
  await startSurvey();
  await respond(1, { audio_consent: true });
  const sha = "ef".repeat(32);
  await outbox.savePhoto({ id: "dddddddd-0000-4000-8000-000000000001", caseId: CASE,
    respondentClientId: id(1), media: "audio", sha256: sha, size: 4, contentType: "audio/webm",
    capturedAt: new Date().toISOString(), geo: null }, new Blob(["abcd"]));
  server();
  let declared;
  routes.push([/POST \/api\/evidence$/, (init) => {
    declared = JSON.parse(init.body);
    return json(200, { id: "ev-1", client_id: declared.client_id, state: "stored", sha256: sha });
  }]);
  await outbox.syncNow({ force: true });
  assert.deepEqual(await outbox.items(), []);
  assert.equal(declared.respondent_id, "rs-1");
  assert.equal(declared.content_type, "audio/webm");
  assert.equal(declared.visit_id, undefined);
  const order = calls.map((c) => c.split(" ")[1].split("/").slice(2, 3)[0]);
  assert.deepEqual(order, ["cases", "revisits", "evidence"]);
});

test("recordings: the container type without codecs, by the bytes", () => {
  assert.equal(baseType("audio/webm;codecs=opus"), "audio/webm");
  assert.equal(baseType("audio/mp4; codecs=\"mp4a.40.2\""), "audio/mp4");
  const bytes = (...values) => new Uint8Array([...values, ...new Array(12).fill(0)]).buffer;
  assert.equal(sniffAudio(bytes(0x1a, 0x45, 0xdf, 0xa3), "audio/ogg"), "audio/webm");
  assert.equal(sniffAudio(new TextEncoder().encode("OggS\0\0\0\0\0\0\0\0").buffer, ""), "audio/ogg");
  assert.equal(sniffAudio(new TextEncoder().encode("\0\0\0\x20ftypM4A ").buffer, ""), "audio/mp4");
  assert.equal(sniffAudio(new TextEncoder().encode("ID3\x04\0\0\0\0\0\0\0\0").buffer, ""), "audio/mpeg");
  assert.equal(sniffAudio(bytes(1, 2, 3), "audio/webm;codecs=opus"), "audio/webm");
});
