// A screen's writes in order; a failed one does not stop the next.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
const memory = new Map([["fieldcase.lang", "zh"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { afterFirst, saveChain } = await import("../js/savechain.js");

test("writes run one after the other, in the order asked", async () => {
  const chain = saveChain();
  const done = [];
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const first = chain(async () => { await held; done.push("draft"); });
  const second = chain(async () => { done.push("final"); });
  await Promise.resolve();
  assert.deepEqual(done, []);
  release();
  await Promise.all([first, second]);
  assert.deepEqual(done, ["draft", "final"]);
});

test("a failed write is its caller's to hear of, and the next write still runs", async () => {
  const chain = saveChain();
  const failed = chain(async () => { throw new Error("QuotaExceededError"); });
  await assert.rejects(failed, /QuotaExceededError/);
  assert.equal(await chain(async () => "stored"), "stored");
});

test("a screen whose first save fails lets go of what it holds; otherwise it keeps it", async () => {
  const stopped = [];
  const stop = () => stopped.push("stopped");
  assert.equal(await afterFirst(Promise.resolve(), stop), stop);
  assert.deepEqual(stopped, []);
  await assert.rejects(afterFirst(Promise.reject(new Error("QuotaExceededError")), stop),
    /QuotaExceededError/);
  assert.deepEqual(stopped, ["stopped"]);
});
