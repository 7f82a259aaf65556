// The outbox: every visit, photo, case action, revisit and survey respondent is written to
// IndexedDB first; a sync engine in the page sends them one at a time with their client
// UUIDs. An item leaves only when the server's JSON receipt says it is stored (for photos
// and recordings: with the SHA-256 taken at capture).
import { ApiError, api, appLang, probe, upload } from "./api.js";
import { db } from "./db.js";

const LOCK = "fieldcase-sync";
const MAX_BACKOFF_MS = 5 * 60 * 1000;
// Refusals that mean "the case changed under you": shown with what changed, never dropped.
const CONFLICTS = ["case.version_conflict", "case.transferred_away"];
const listeners = new Set();

// run: the pass under way, {total, done, failed}, for a progress bar (null when idle).
export const status = {
  running: false, needsLogin: false, lastError: null, lastRunAt: null, progress: {}, run: null,
};

// Who is logged in: items carry who captured them and are sent only in that person's
// session (a shared phone must not file one inspector's photos as another's).
let currentUser = null;

// Whether an item is the current user's (or from before items named their user): only
// they send it, open its draft or read its sent label on a shared phone.
export function isMine(item) {
  return !item?.userId || item.userId === currentUser;
}

export function setUser(userId) {
  currentUser = userId || null;
}

export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit() {
  for (const listener of listeners) listener(status);
}

export function uuid() {
  return crypto.randomUUID();
}

// ---- writing -------------------------------------------------------------------------
// Items are sent oldest first: a creation time strictly after the previous one, even
// within one millisecond (22 respondents typed in a row keep their order).
let lastCreated = 0;

function nextCreatedAt() {
  lastCreated = Math.max(Date.now(), lastCreated + 1);
  return new Date(lastCreated).toISOString();
}

// A check or a phone revisit: a draft while it is being filled in, queued once saved.
async function saveRecord(kind, record, { draft }) {
  const database = await db();
  const existing = await database.get("outbox", record.id);
  // A saved record never goes back to being a draft (a late draft write must not stall it).
  if (draft && existing && existing.state !== "draft") return;
  await database.put("outbox", {
    ...(existing || { createdAt: nextCreatedAt(), attempts: 0 }),
    id: record.id, kind, caseId: record.caseId, state: draft ? "draft" : "queued",
    payload: record.payload, lastError: null, nextAttemptAt: 0,
    userId: existing?.userId || currentUser,
    // What the server named when it refused the record, shown while it is mended.
    refusal: draft ? existing?.refusal || null : null,
    // When the user saved it: the time it was done, sent as device_time (not the draft's
    // start, nor the time it finally goes out).
    ...(draft ? {} : { actedAt: existing?.actedAt || new Date().toISOString() }),
    ...(record.label ? { label: record.label } : {}),
    ...(record.extra || {}),
  });
  emit();
}

export async function saveVisit(visit, { draft }) {
  return saveRecord("visit", visit, { draft });
}

// A revisit (POST /api/cases/<id>/revisits): a phone revisit is a draft during the call;
// a door-to-door survey is queued when it starts, its respondents follow one by one.
export async function saveRevisit(revisit, { draft }) {
  return saveRecord("revisit", revisit, { draft });
}

// A look-back re-check (回头看核查, POST /api/campaigns/<id>/rechecks): a draft while its
// form is open, queued once saved; its photos follow it as a check's do (the server
// answers the re-check's visit id, which the photos are declared under).
// `form`: what was typed (the form opens with it again); `task`: the task as the phone had
// it, so a draft still opens when the cached task list is gone.
export async function saveRecheck({ id, caseId, taskId, campaignId, label, payload, form, task },
  { draft }) {
  return saveRecord("recheck", { id, caseId, payload, label,
    extra: { taskId, campaignId, form: form || null, task: task || null } }, { draft });
}

// A re-check the server refused for what was typed (422: a plan without its 完成时限…):
// nothing was stored under its client id, so it opens again to be corrected, and its
// photos wait for it meanwhile.
export function isRecheckMendable(item) {
  return item?.kind === "recheck" && item.state === "failed" && item.lastError?.status === 422;
}

export async function mendRecheck(id) {
  const item = await (await db()).get("outbox", id);
  if (!isRecheckMendable(item)) return null;
  return updateItem(id, { state: "draft", refusal: item.lastError, lastError: null,
    nextAttemptAt: 0 });
}

// One door-to-door respondent, its own item with its own client UUID: sent after its
// revisit (POST /api/revisits/<the revisit's server id>/respondents).
export async function saveRespondent({ id, revisitClientId, caseId, payload }) {
  const database = await db();
  const item = {
    id, kind: "respondent", revisitClientId, caseId, payload, state: "queued", attempts: 0,
    nextAttemptAt: 0, lastError: null, createdAt: nextCreatedAt(), userId: currentUser,
  };
  await database.put("outbox", item);
  emit();
  return item;
}

// Changes to a record still on the phone that has never been offered to the server (a
// door survey's location once the first fix comes): what may have reached the server
// never changes, or its client id would be refused for good. Answers whether it changed.
export async function amendUnsent(id, change) {
  const database = await db();
  const tx = database.transaction("outbox", "readwrite");
  const item = await tx.store.get(id);
  let changed = false;
  if (item && !item.offered) {
    const payload = change(item.payload);
    if (payload) {
      item.payload = payload;
      await tx.store.put(item);
      changed = true;
    }
  }
  await tx.done;
  if (changed) emit();
  return changed;
}

export async function savePhoto(photo, blob) {
  const database = await db();
  const tx = database.transaction(["outbox", "blobs"], "readwrite");
  // One transaction: the record never exists without its bytes.
  await Promise.all([
    tx.objectStore("blobs").put(blob, photo.id),
    tx.objectStore("outbox").put({
      userId: currentUser, ...photo, kind: "evidence", state: "queued", attempts: 0,
      nextAttemptAt: 0,
      createdAt: nextCreatedAt(), step: "declare", lastError: null,
    }),
    tx.done,
  ]);
  emit();
}

// A case action taken on the phone (start, submit…): queued like a check, sent in order,
// with the version of the case the inspector was looking at. `after`: the phone's own
// earlier action on the same case still waiting, whose answer gives the version to send.
export async function saveTransition({ caseId, action, params, version, subject }) {
  const database = await db();
  const waiting = (await database.getAllFromIndex("outbox", "createdAt"))
    .filter((i) => i.kind === "transition" && i.caseId === caseId && i.state !== "discarded");
  // Strictly after the action it builds on, even within the same millisecond.
  const last = waiting.length ? Date.parse(waiting[waiting.length - 1].createdAt) : 0;
  const createdAt = new Date(Math.max(Date.now(), last + 1)).toISOString();
  const item = {
    id: uuid(), clientId: uuid(), kind: "transition", caseId, action, params: params || {},
    version, subject: subject || "", after: waiting.length ? waiting[waiting.length - 1].id : null,
    state: "queued", attempts: 0, nextAttemptAt: 0, lastError: null, conflict: null,
    createdAt, userId: currentUser, actedAt: new Date().toISOString(),
  };
  await database.put("outbox", item);
  emit();
  return item;
}

// What the phone still has to send for a case, oldest first (the case page shows them).
export async function pendingTransitions(caseId) {
  return (await items()).filter((i) => i.kind === "transition" && i.caseId === caseId);
}

// Conflict, "retry on the current version": the same action on the version the server
// named, under a new client id (the refused attempt was never applied).
export async function retryOnCurrent(id) {
  const item = await (await db()).get("outbox", id);
  if (!item?.conflict) return null;
  // Its actedAt stays: the time the user acted (the server bounds it by the phone's
  // last contact), not the time the conflict was answered.
  await updateItem(id, { state: "queued", version: item.conflict.current_version,
    clientId: uuid(), after: null, conflict: null, lastError: null, nextAttemptAt: 0 });
  return syncNow({ force: true });
}

// "Discard my action": only for what the server refused (a conflict or a refusal); an
// action on its way cannot be taken back.
export async function discardItem(id) {
  const database = await db();
  const item = await database.get("outbox", id);
  if (!item || !["conflict", "failed"].includes(item.state)) return false;
  const tx = database.transaction(["outbox", "blobs", "previews"], "readwrite");
  tx.objectStore("outbox").delete(id);
  tx.objectStore("blobs").delete(id);
  tx.objectStore("previews").delete(id);
  await tx.done;
  emit();
  return true;
}

// A check the server refused for what was typed (422 naming the fields) is mended, not
// retried: it goes back to being a draft, with the refusal kept to show which fields.
// The same client id is sent again: a 422 stored nothing under it. Its photos stay
// queued behind it and follow it once it is sent.
// The fields the check's form (views/field/check.js) edits: top level, and of a
// measurement (a microphone estimate is kept as it was taken: only its calibration,
// zone and period are typed).
const MEND_TOP = new Set(["kind", "participants", "findings"]);
const MEND_METER = new Set(["value_dba", "zone_class", "period", "calibration_offset_db",
  "meter.model", "meter.serial", "meter.class", "calibrator.model", "calibrator.serial",
  "calibration_before_db", "calibration_after_db", "duration_s", "lmax_dba",
  "background_dba", "position", "windows", "noise_type", "room_class", "weather",
  "weather.wind_ms", "weather.precipitation"]);
const MEND_ESTIMATE = new Set(["zone_class", "period", "calibration_offset_db"]);

// Does a 422's `errors` name at least one field the form edits?
export function namesMendField(errors, payload = {}) {
  const paths = [];
  const walk = (value, path) => {
    if (Array.isArray(value)) paths.push(path);
    else if (value && typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) walk(inner, [...path, key]);
    }
  };
  walk(errors || {}, []);
  return paths.some((path) => {
    if (path[0] !== "measurements") return path.length === 1 && MEND_TOP.has(path[0]);
    if (path.length < 3) return false;
    const field = path.slice(2).join(".");
    const estimate = payload?.measurements?.[Number(path[1])]?.source === "phone_estimate";
    return (estimate ? MEND_ESTIMATE : MEND_METER).has(field);
  });
}

export function isMendable(item) {
  return item?.kind === "visit" && item.state === "failed" && Boolean(item.lastError?.mendable);
}

export async function mend(id) {
  const item = await (await db()).get("outbox", id);
  if (!isMendable(item)) return null;
  return updateItem(id, { state: "draft", refusal: item.lastError, lastError: null,
    nextAttemptAt: 0 });
}

// The inspector's other way on: let the refused check's photos go to the case without it.
export async function sendPhotosAlone(visitId) {
  await updateItem(visitId, { photosAlone: true });
  return syncNow({ force: true });
}

export async function updateItem(id, changes) {
  const database = await db();
  const item = await database.get("outbox", id);
  if (!item) return null;
  const updated = { ...item, ...changes };
  await database.put("outbox", updated);
  emit();
  return updated;
}

export async function items() {
  const all = await (await db()).getAllFromIndex("outbox", "createdAt");
  return all;
}

export async function discardDraft(visitId) {
  const database = await db();
  const all = await database.getAll("outbox");
  const visit = all.find((i) => i.id === visitId);
  // A check offered to the server and refused (being mended): its photos were taken on
  // site and go to the case alone; only a check never offered takes its photos with it.
  const keepPhotos = Boolean(visit?.refusal || visit?.offered);
  const tx = database.transaction(["outbox", "blobs", "previews"], "readwrite");
  for (const item of all) {
    if (keepPhotos && item.visitClientId === visitId) {
      tx.objectStore("outbox").put({ ...item, visitClientId: null });
    } else if (item.id === visitId || item.visitClientId === visitId) {
      tx.objectStore("outbox").delete(item.id);
      tx.objectStore("blobs").delete(item.id);
      tx.objectStore("previews").delete(item.id);
    }
  }
  await tx.done;
  emit();
}

// Photos taken before the first fix get the next good one, marked late: only while the
// declaration is not frozen (what may have reached the server never changes), and only
// within a few minutes of the photo (a fix from hours later is somewhere else).
export const LATE_FIX_WINDOW_MS = 10 * 60 * 1000;

export async function attachLateFix(fix) {
  const database = await db();
  const tx = database.transaction("outbox", "readwrite");
  for (const item of await tx.store.getAll()) {
    const age = Date.parse(fix.fixed_at) - Date.parse(item.capturedAt || 0);
    if (item.kind === "evidence" && item.awaitingFix && !item.declaration
        && age >= -60000 && age <= LATE_FIX_WINDOW_MS) {
      item.geo = { ...fix, source: "late_fix" };
      item.awaitingFix = false;
      await tx.store.put(item);
    }
  }
  await tx.done;
  emit();
}

// ---- sending -------------------------------------------------------------------------
export function backoff(attempts) {
  const base = Math.min(MAX_BACKOFF_MS, 2000 * 2 ** Math.min(attempts, 10));
  return base / 2 + Math.random() * base / 2;
}

function summary(item) {
  const p = item.payload || {};
  if (item.kind === "revisit") return { method: p.method, questionnaire: p.questionnaire || null };
  if (item.kind === "respondent") return { kind: p.kind, satisfaction: p.satisfaction || null };
  if (item.kind === "evidence") return { media: item.media || "photo" };
  if (item.kind === "recheck") return { rebound: Boolean(p.rebound), plan: Boolean(p.plan) };
  return null;
}

async function finish(item, serverId, receipt) {
  const database = await db();
  const tx = database.transaction(["outbox", "blobs", "previews", "sent"], "readwrite");
  tx.objectStore("previews").delete(item.id);
  tx.objectStore("sent").put({
    id: item.id, kind: item.kind, serverId, caseId: item.caseId, sentAt: new Date().toISOString(),
    userId: item.userId || null,
    sha256: receipt.sha256 || null, action: item.action || null,
    version: item.kind === "transition" ? receipt.version : undefined,
    // What the phone still shows of it: a survey its questionnaire (respondents are
    // added after it is sent), a respondent its survey, kind and satisfaction.
    parent: item.revisitClientId || item.visitClientId || item.respondentClientId || null,
    createdAt: item.createdAt, label: item.label || null, summary: summary(item),
    ...(item.taskId ? { taskId: item.taskId } : {}),
  });
  tx.objectStore("outbox").delete(item.id);
  tx.objectStore("blobs").delete(item.id);
  await tx.done;
  delete status.progress[item.id];
  emit();
}

// Marked before the first try: from then on the item may be on the server, and its body
// (sent again under the same client id) must not change.
async function markOffered(item) {
  if (!item.offered) await updateItem(item.id, { offered: true });
}

// The phone's times for an action done offline: when the user acted (device_time) and
// now (sent_at), so the server judges it by when it was done, whatever this clock says.
// An item saved before the phone kept actedAt says only now, as it always did.
export function phoneTimes(actedAt) {
  const now = new Date().toISOString();
  return actedAt ? { device_time: actedAt, sent_at: now } : { device_time: now };
}

async function sendVisit(item) {
  await markOffered(item);
  const receipt = await api("POST", `/api/cases/${item.caseId}/visits`, {
    body: { ...item.payload, client_id: item.id, ...phoneTimes(item.actedAt) },
  });
  if (receipt.client_id !== item.id || !receipt.id) {
    throw new ApiError("portal", 200, null, "unexpected receipt");
  }
  await finish(item, receipt.id, receipt);
}

async function sendRecheck(item) {
  await markOffered(item);
  // The body saved with the re-check, unchanged: a retry under the same client id must
  // send the same body (the server answers the first receipt again, or 409 for another).
  const receipt = await api("POST", `/api/campaigns/${item.campaignId}/rechecks`, {
    body: { ...item.payload, client_id: item.id },
  });
  if (!receipt?.task || receipt.task.id !== item.taskId) {
    throw new ApiError("portal", 200, null, "unexpected receipt");
  }
  // Its photos are declared under the re-check's visit.
  await finish(item, receipt.visit_id ?? null, receipt);
}

async function sendRevisit(item) {
  await markOffered(item);
  const current = await (await db()).get("outbox", item.id); // the latest location
  const receipt = await api("POST", `/api/cases/${item.caseId}/revisits`, {
    body: { ...current.payload, client_id: item.id, device_time: new Date().toISOString() },
  });
  if (receipt.client_id !== item.id || !receipt.id) {
    throw new ApiError("portal", 200, null, "unexpected receipt");
  }
  await finish(item, receipt.id, receipt);
}

// A respondent waits for its survey's server id (like a photo for its check's).
async function sendRespondent(item) {
  const revisit = await (await db()).get("sent", item.revisitClientId);
  if (!revisit) return "waiting";
  const receipt = await api("POST", `/api/revisits/${revisit.serverId}/respondents`, {
    body: { ...item.payload, client_id: item.id, device_time: new Date().toISOString() },
  });
  if (receipt.client_id !== item.id || !receipt.id) {
    throw new ApiError("portal", 200, null, "unexpected receipt");
  }
  await finish(item, receipt.id, receipt);
  return "sent";
}

async function sendTransition(item) {
  const database = await db();
  let { version } = item;
  if (item.after) {
    // The phone's earlier action on this case: wait for it, then build on its answer.
    if (await database.get("outbox", item.after)) return "waiting";
    const before = await database.get("sent", item.after);
    if (before?.version != null) version = before.version;
  }
  const receipt = await api("POST", `/api/cases/${item.caseId}/transitions`, {
    body: { ...item.params, action: item.action, version, client_id: item.clientId || item.id,
      ...phoneTimes(item.actedAt || item.createdAt) },
  });
  if (!receipt || receipt.id !== item.caseId || receipt.version == null) {
    throw new ApiError("portal", 200, null, "unexpected receipt");
  }
  await finish(item, receipt.id, receipt);
  return "sent";
}

function declaration(item, links) {
  const body = {
    client_id: item.id, case_id: item.caseId, sha256: item.sha256, size: item.size,
    content_type: item.contentType, captured_at: item.capturedAt, geo: item.geo || null,
    photographer: item.photographer || null, place: item.place || null,
    caption: item.caption || null, device_time: new Date().toISOString(),
  };
  return { ...body, ...links };
}

// The declaration is built once, in one transaction with the latest copy of the item, and
// then always resent exactly: it may have reached the server even if its answer was lost,
// and the same client_id with another body is refused for good.
async function freezeDeclaration(id, links) {
  const database = await db();
  const tx = database.transaction("outbox", "readwrite");
  const item = await tx.store.get(id);
  if (!item.declaration) {
    item.declaration = declaration(item, links);
    item.declareAttempted = true;
    await tx.store.put(item);
  }
  await tx.done;
  return item.declaration;
}

// What a photo or recording belongs to, by the client id it was taken under: the field
// of the declaration and whether it may go without it when that record was refused.
const PARENTS = [
  // A refused check must not strand its photos: they go to the case without it.
  { key: "visitClientId", field: "visit_id", optional: true },
  { key: "revisitClientId", field: "revisit_id", optional: true },
  // A recording needs its respondent (whose consent it was made under).
  { key: "respondentClientId", field: "respondent_id", optional: false },
];

async function sendPhoto(item) {
  const database = await db();
  const links = {};
  if (!item.declaration) {
    for (const { key, field, optional } of PARENTS) {
      if (!item[key]) continue;
      const sent = await database.get("sent", item[key]);
      const parent = await database.get("outbox", item[key]);
      // (A re-check the server kept no visit for: its photos go to the case alone.)
      if (sent) { if (sent.serverId != null) links[field] = sent.serverId; }
      else if (!optional || parent?.state !== "failed") return "waiting";
      // Refused for what was typed: it will be mended, so its photos wait for it.
      else if ((isMendable(parent) || isRecheckMendable(parent)) && !parent.photosAlone) {
        return "waiting";
      }
    }
  }
  const progress = (step, fraction) => {
    status.progress[item.id] = { step, fraction };
    emit();
  };
  progress("declare", 0);
  const body = await freezeDeclaration(item.id, links);
  const declared = await api("POST", "/api/evidence", {
    body: { ...body, device_time: new Date().toISOString() },
  });
  if (declared.client_id !== item.id) throw new ApiError("portal", 200, null, "unexpected receipt");
  let receipt = declared;
  if (declared.state === "rejected") {
    throw new ApiError("client", 422, { code: `evidence.${declared.rejected_reason}` });
  }
  if (declared.state === "pending") {
    await updateItem(item.id, { step: "upload", serverId: declared.id });
    const blob = await database.get("blobs", item.id);
    if (!blob) throw new ApiError("client", 0, { code: "local.bytes_missing" }, "photo bytes missing");
    const stored = await upload(declared.upload, blob, (fraction) => progress("upload", fraction));
    if (stored?.id === declared.id && stored.state === "stored") {
      receipt = stored; // the local store completed it as it arrived: no complete call
    } else {
      await updateItem(item.id, { step: "complete" });
      progress("complete", 1);
      receipt = await api("POST", `/api/evidence/${declared.id}/complete`, { timeout: 120000 });
    }
  }
  if (receipt.state !== "stored" || receipt.sha256 !== item.sha256) {
    // Only the server's own hash of what it stored proves the photo arrived whole.
    throw new ApiError("portal", 200, null, "receipt does not match the photo");
  }
  await finish(item, receipt.id, receipt);
  return "sent";
}

// What was refused and why, field by field, so the inspector (or the office) can act.
function describe(error) {
  // In the user's language (the server sends both); its English detail from an older one.
  const base = error.problem?.messages?.[appLang()] || error.problem?.detail || error.message;
  const fields = error.problem?.errors;
  if (!fields) return base;
  const flat = [];
  const walk = (value, path) => {
    if (Array.isArray(value)) flat.push(`${path}: ${value.join(" ")}`);
    else if (value && typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) walk(inner, path ? `${path}.${key}` : key);
    }
  };
  walk(fields, "");
  return `${base} (${flat.join("; ")})`;
}

// Permanent refusals: keep the item (nothing is thrown away), show why, stop retrying.
function isPermanent(error) {
  if (error.kind !== "client") return false;
  const retryable = ["evidence.hash_mismatch", "evidence.size_mismatch",
    "evidence.upload_missing", "evidence.expired", "request.conflict"];
  return !retryable.includes(error.code);
}

// A photo taken before the first fix waits this long for one before it is sent without.
export const FIX_GRACE_MS = 2 * 60 * 1000;

async function runOnce({ force }) {
  const now = Date.now();
  const queue = (await items()).filter((item) => item.state === "queued"
    && (force || (item.nextAttemptAt || 0) <= now)
    && isMine(item)
    && !(item.awaitingFix && !item.declaration
         && now - Date.parse(item.capturedAt) < FIX_GRACE_MS));
  // Checks, case actions and revisits first, then respondents, then photos and
  // recordings: what an item belongs to is sent before it. Otherwise oldest first.
  const rank = (item) => ({ respondent: 1, evidence: 2 }[item.kind] || 0);
  queue.sort((a, b) => rank(a) - rank(b) || a.createdAt.localeCompare(b.createdAt));
  const run = { total: queue.length, done: 0, failed: 0 };
  status.run = run;
  emit();
  for (const item of queue) {
    try {
      let result;
      if (item.kind === "visit") result = await sendVisit(item);
      else if (item.kind === "transition") result = await sendTransition(item);
      else if (item.kind === "revisit") result = await sendRevisit(item);
      else if (item.kind === "recheck") result = await sendRecheck(item);
      else if (item.kind === "respondent") result = await sendRespondent(item);
      else result = await sendPhoto(item);
      if (result === "waiting") run.total -= 1;
      else run.done += 1;
      status.lastError = null;
      emit();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      delete status.progress[item.id];
      if (error.kind === "auth") {
        status.needsLogin = true;
        status.lastError = error;
        emit();
        return; // the session expired mid-sync: ask to log in, then carry on from here
      }
      const attempts = (item.attempts || 0) + 1;
      const message = describe(error);
      run.failed += 1;
      if (item.kind === "transition" && CONFLICTS.includes(error.code)) {
        // Someone changed the case since the inspector saw it (or handed it to another
        // unit): kept, shown with what changed, until the inspector discards it or
        // retries on the current version.
        const p = error.problem || {};
        await updateItem(item.id, { state: "conflict", attempts,
          lastError: { kind: error.kind, code: error.code, status: error.status, message,
            requestId: error.requestId },
          // The case's status: `case_status` (problem+json's own `status` is the HTTP code).
          conflict: { current_version: p.current_version, status: p.case_status ?? null,
            unit: p.unit ?? null, changes: Array.isArray(p.changes) ? p.changes : [] } });
        continue;
      }
      if (isPermanent(error)) {
        // A check refused for its fields (422) keeps them, to be mended field by field:
        // only when it names one the check's form edits (otherwise mending cannot help
        // and its photos go alone, as for any refusal).
        const fields = error.problem?.errors_en || error.problem?.errors || null;
        const mendable = item.kind === "visit" && error.status === 422
          && namesMendField(fields, item.payload);
        await updateItem(item.id, { state: "failed", attempts,
          lastError: { kind: error.kind, code: error.code, status: error.status, message,
            requestId: error.requestId,
            // The server's English per-field messages (refusalNotes words them from the
            // served rules) and those in the user's language (api.js puts them in
            // `errors`), shown where the rules data has no words for one.
            ...(mendable ? { mendable, fields,
              localFields: error.problem?.errors || null } : {}) } });
        continue;
      }
      const changes = { attempts, nextAttemptAt: Date.now() + backoff(attempts),
        lastError: { kind: error.kind, code: error.code, status: error.status, message,
          requestId: error.requestId } };
      if (error.code === "evidence.upload_missing") changes.step = "declare";
      await updateItem(item.id, changes);
      status.lastError = error;
      emit();
      if (error.kind !== "client") return; // no network / portal / server down: stop here
    }
  }
}

// Web Locks: one tab syncs at a time; another tab's request is simply skipped. A request
// made while this tab is syncing runs again right after (its item may have been saved
// after the running pass read the queue).
let again = null;

export async function syncNow({ force = false } = {}) {
  if (status.needsLogin) return "busy";
  if (status.running) {
    again = { force: force || again?.force };
    return "queued";
  }
  const run = async () => {
    status.running = true;
    emit();
    try {
      await runOnce({ force });
      while (again && !status.needsLogin) {
        const next = again;
        again = null;
        await runOnce(next);
      }
    } finally {
      again = null;
      status.running = false;
      status.run = null;
      status.lastRunAt = new Date().toISOString();
      emit();
    }
    return "done";
  };
  if (!navigator.locks) return run();
  return navigator.locks.request(LOCK, { ifAvailable: true }, (lock) => (lock ? run() : "busy"));
}

export async function retryFailed(id) {
  await updateItem(id, { state: "queued", nextAttemptAt: 0, lastError: null });
  return syncNow({ force: true });
}

export function loggedInAgain() {
  status.needsLogin = false;
  status.lastError = null;
  emit();
  return syncNow({ force: true });
}

// Triggers: app start, after each save (callers), connectivity back (probed), a timer,
// and Background Sync where the browser has it.
export function startTriggers() {
  window.addEventListener("online", async () => {
    if (await probe()) syncNow({ force: true });
  });
  setInterval(async () => {
    const waiting = (await items()).some((item) => item.state === "queued");
    if (waiting && !status.running) syncNow();
  }, 15000);
  navigator.serviceWorker?.addEventListener("message", (event) => {
    if (event.data?.type === "sync") syncNow({ force: true });
  });
  syncNow();
}

export async function requestBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker?.ready;
    await registration?.sync?.register("fieldcase-outbox");
  } catch {
    // Background Sync is an extra trigger only (Chromium); the page does the work.
  }
}
