// A screen drawn again into the same element: the earlier draw is told it is stale and has
// its listeners stopped; leaving stops the latest one.
import assert from "node:assert/strict";
import { test } from "node:test";

const { startDraw } = await import("../js/redraw.js");

test("a second draw makes the first stale and stops what the first started", () => {
  const view = {};
  const first = startDraw(view);
  const stopped = [];
  first.onStop(() => stopped.push("first"));
  assert.equal(first.stale(), false);
  const second = startDraw(view);
  assert.equal(first.stale(), true);
  assert.equal(second.stale(), false);
  assert.deepEqual(stopped, ["first"]);
});

test("leaving through the first draw's handle stops the latest draw, once", () => {
  const view = {};
  const first = startDraw(view);
  const second = startDraw(view);
  const stopped = [];
  second.onStop(() => stopped.push("second"));
  first.leave();
  first.leave();
  assert.deepEqual(stopped, ["second"]);
});

test("draws of different screens do not touch each other", () => {
  const a = startDraw({});
  const stopped = [];
  a.onStop(() => stopped.push("a"));
  startDraw({});
  assert.equal(a.stale(), false);
  assert.deepEqual(stopped, []);
});
