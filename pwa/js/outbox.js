// The outbox: every visit and photo is written to IndexedDB first; a sync engine in the
// page sends them one at a time with their client UUIDs. An item leaves only when the
// server's JSON receipt says it is stored (for photos: with the SHA-256 taken at capture).
import { ApiError, api, probe, upload } from "./api.js";
import { db } from "./db.js";

const LOCK = "fieldcase-sync";
const MAX_BACKOFF_MS = 5 * 60 * 1000;
const listeners = new Set();

export const status = {
  running: false, needsLogin: false, lastError: null, lastRunAt: null, progress: {},
};

// Who is logged in: items carry who captured them and are sent only in that person's
// session (a shared phone must not file one inspector's photos as another's).
let currentUser = null;

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
export async function saveVisit(visit, { draft }) {
  const database = await db();
  const existing = await database.get("outbox", visit.id);
  // A saved check never goes back to being a draft (a late draft write must not stall it).
  if (draft && existing && existing.state !== "draft") return;
  await database.put("outbox", {
    ...(existing || { createdAt: new Date().toISOString(), attempts: 0 }),
    id: visit.id, kind: "visit", caseId: visit.caseId, state: draft ? "draft" : "queued",
    payload: visit.payload, lastError: null, nextAttemptAt: 0,
    userId: existing?.userId || currentUser,
  });
  emit();
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
      createdAt: new Date().toISOString(), step: "declare", lastError: null,
    }),
    tx.done,
  ]);
  emit();
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
  const tx = database.transaction(["outbox", "blobs", "previews"], "readwrite");
  for (const item of all) {
    if (item.id === visitId || item.visitClientId === visitId) {
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

async function finish(item, serverId, receipt) {
  const database = await db();
  const tx = database.transaction(["outbox", "blobs", "previews", "sent"], "readwrite");
  tx.objectStore("previews").delete(item.id);
  tx.objectStore("sent").put({
    id: item.id, kind: item.kind, serverId, caseId: item.caseId, sentAt: new Date().toISOString(),
    sha256: receipt.sha256 || null,
  });
  tx.objectStore("outbox").delete(item.id);
  tx.objectStore("blobs").delete(item.id);
  await tx.done;
  delete status.progress[item.id];
  emit();
}

async function sendVisit(item) {
  const receipt = await api("POST", `/api/cases/${item.caseId}/visits`, {
    body: { ...item.payload, client_id: item.id, device_time: new Date().toISOString() },
  });
  if (receipt.client_id !== item.id || !receipt.id) {
    throw new ApiError("portal", 200, null, "unexpected receipt");
  }
  await finish(item, receipt.id, receipt);
}

function declaration(item, visitId) {
  const body = {
    client_id: item.id, case_id: item.caseId, sha256: item.sha256, size: item.size,
    content_type: item.contentType, captured_at: item.capturedAt, geo: item.geo || null,
    photographer: item.photographer || null, place: item.place || null,
    caption: item.caption || null, device_time: new Date().toISOString(),
  };
  if (visitId) body.visit_id = visitId;
  return body;
}

// The declaration is built once, in one transaction with the latest copy of the item, and
// then always resent exactly: it may have reached the server even if its answer was lost,
// and the same client_id with another body is refused for good.
async function freezeDeclaration(id, visitId) {
  const database = await db();
  const tx = database.transaction("outbox", "readwrite");
  const item = await tx.store.get(id);
  if (!item.declaration) {
    item.declaration = declaration(item, visitId);
    item.declareAttempted = true;
    await tx.store.put(item);
  }
  await tx.done;
  return item.declaration;
}

async function sendPhoto(item) {
  const database = await db();
  let visitId = null;
  if (item.visitClientId && !item.declaration) {
    const sent = await database.get("sent", item.visitClientId);
    const visit = await database.get("outbox", item.visitClientId);
    if (sent) visitId = sent.serverId;
    // A refused check must not strand its photos: they go to the case without it.
    else if (visit?.state !== "failed") return "waiting";
  }
  const progress = (step, fraction) => {
    status.progress[item.id] = { step, fraction };
    emit();
  };
  progress("declare", 0);
  const body = await freezeDeclaration(item.id, visitId);
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
    await upload(declared.upload, blob, (fraction) => progress("upload", fraction));
    await updateItem(item.id, { step: "complete" });
    progress("complete", 1);
    receipt = await api("POST", `/api/evidence/${declared.id}/complete`, { timeout: 120000 });
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
  const base = error.problem?.detail || error.message;
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
    && (!item.userId || item.userId === currentUser)
    && !(item.awaitingFix && !item.declaration
         && now - Date.parse(item.capturedAt) < FIX_GRACE_MS));
  // Checks before photos, so a photo's visit exists when the photo is declared.
  queue.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "visit" ? -1 : 1)
    || a.createdAt.localeCompare(b.createdAt));
  for (const item of queue) {
    try {
      if (item.kind === "visit") await sendVisit(item);
      else await sendPhoto(item);
      status.lastError = null;
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
      if (isPermanent(error)) {
        await updateItem(item.id, { state: "failed", attempts,
          lastError: { kind: error.kind, code: error.code, message } });
        continue;
      }
      const changes = { attempts, nextAttemptAt: Date.now() + backoff(attempts),
        lastError: { kind: error.kind, code: error.code, message } };
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
