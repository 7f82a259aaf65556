// The platforms screen's revoke question: the token's label is shown as the admin wrote it.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;
const memory = new Map([["fieldcase.lang", "en"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { t } = await import("../js/i18n.js");
const { revokeQuestion } = await import("../js/views/admin/platforms.js");

test("a label with $& or $1 is shown as written, not read as a pattern", () => {
  for (const label of ["A$&B", "prod $1 $$ $' $`", "市12345平台"]) {
    const question = revokeQuestion(label);
    assert.ok(question.includes(label), question);
    assert.ok(!question.includes("{label}"), question);
  }
  assert.ok(t("confirmRevokeToken").includes("{label}"));
});
