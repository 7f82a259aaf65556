// What every view shares: the session, the location tracker, the standards.
import { api, setCsrf } from "./api.js";
import { FixTracker } from "./capture.js";
import { db, getCache, getMeta, setCache, setMeta } from "./db.js";
import { t } from "./i18n.js";
import { setUser } from "./outbox.js";
import { toast } from "./ui.js";

export const state = {
  session: null, // { user, csrf_token }
  online: navigator.onLine,
  tracker: new FixTracker(),
  standards: null,
};

export async function loadSession() {
  state.session = (await getMeta("session")) || null;
  setCsrf(state.session?.csrf_token || null);
  setUser(state.session?.user?.id);
  return state.session;
}

export async function saveSession(session) {
  state.session = session;
  setCsrf(session?.csrf_token || null);
  setUser(session?.user?.id);
  await setMeta("session", session);
}

export function isOffice() {
  return ["reviewer", "admin", "revisit"].includes(state.session?.user?.role);
}

// Standards change rarely: fetched when online, the cached copy otherwise.
export async function loadStandards() {
  try {
    state.standards = await api("GET", "/api/standards/noise");
    await setCache("standards", state.standards);
  } catch {
    state.standards = (await getCache("standards"))?.value || null;
  }
  return state.standards;
}

// What one user saw must not show to the next on a shared phone: cached cases and
// previews go at logout and when someone else logs in (the outbox keeps its items).
export async function forgetUserData() {
  const database = await db();
  const tx = database.transaction(["cache", "previews"], "readwrite");
  await Promise.all([tx.objectStore("cache").clear(), tx.objectStore("previews").clear(), tx.done]);
}

// Photos are megabytes each: warn while there is still room to sync before it runs out.
export async function warnIfStorageLow() {
  try {
    const { quota, usage } = await navigator.storage.estimate();
    if (quota && (quota - usage < 200 * 1024 * 1024 || usage / quota > 0.9)) {
      toast(t("storageLow"), "warn");
      return true;
    }
  } catch {
    // Not every browser can tell.
  }
  return false;
}
