// A screen's writes in order; a failed one does not stop the next.
import assert from "node:assert/strict";
import { test } from "node:test";

const { saveChain } = await import("../js/savechain.js");

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
