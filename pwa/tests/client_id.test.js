// Every case action the office sends carries a client_id, and a retry of the same action
// after no answer (a 503, the network gone) sends the same one: the server applies a
// client_id once and answers its repeat with the case, so a change that committed behind a
// 503 is learnt, not made twice. A scripted fetch stands in for the server.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;
const memory = new Map([["fieldcase.lang", "en"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { postTransition, sendAction } = await import("../js/actions.js");

let bodies;
let answers;

globalThis.fetch = async (path, init = {}) => {
  bodies.push({ path, ...JSON.parse(init.body) });
  const next = answers.shift() || [200, { id: "case-1", version: 5, status: "closed" }];
  if (next === "network") throw new TypeError("network down");
  const [status, body] = next;
  return new Response(JSON.stringify(body), {
    status, headers: { "Content-Type": status < 400 ? "application/json" : "application/problem+json" },
  });
};

beforeEach(() => {
  bodies = [];
  answers = [];
});

const UNAVAILABLE = [503, { code: "database.unavailable", detail: "try again" }];

test("approve: a retry after a 503 or no network sends the same client_id", async () => {
  answers = [UNAVAILABLE, "network"];
  const approve = { action: "approve", version: 4, note: "ok" };
  await assert.rejects(postTransition("case-1", approve), (e) => e.kind === "server");
  await assert.rejects(postTransition("case-1", approve), (e) => e.kind === "offline");
  const answer = await postTransition("case-1", approve);
  assert.equal(answer.status, "closed");
  assert.equal(bodies.length, 3);
  assert.match(bodies[0].client_id, /^[0-9a-f-]{36}$/);
  assert.ok(bodies.every((b) => b.client_id === bodies[0].client_id && b.path === "/api/cases/case-1/transitions"));
  // Applied: the next action is another one.
  await postTransition("case-1", { action: "reopen", version: 5, reason: "x" });
  assert.notEqual(bodies[3].client_id, bodies[0].client_id);
});

test("an office action (extend) carries a client_id and keeps it across a retry", async () => {
  answers = [UNAVAILABLE];
  const v = { actions: [{ action: "extend", roles: ["manager"], params: [] }] };
  const item = { id: "case-2", version: 7, subject: "s" };
  await assert.rejects(sendAction(item, "extend", { days: 3, reason: "wait" }, v));
  await sendAction(item, "extend", { days: 3, reason: "wait" }, v);
  assert.equal(bodies.length, 2);
  assert.ok(bodies[0].client_id);
  assert.equal(bodies[1].client_id, bodies[0].client_id);
  assert.equal(bodies[1].days, 3);
});

test("a refusal applied nothing: trying again is a new action, as is another action", async () => {
  answers = [[422, { code: "closure.unmet", detail: "no" }]];
  const approve = { action: "approve", version: 4 };
  await assert.rejects(postTransition("case-3", approve), (e) => e.kind === "client");
  await postTransition("case-3", approve);
  assert.notEqual(bodies[1].client_id, bodies[0].client_id);
  answers = [UNAVAILABLE];
  await assert.rejects(postTransition("case-3", { action: "return", version: 9, reasons: ["a"] }));
  await postTransition("case-3", { action: "approve", version: 9 });
  assert.notEqual(bodies[3].client_id, bodies[2].client_id);
});
