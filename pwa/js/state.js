// What every view shares: the session, the location tracker, the standards.
import { api, setCsrf } from "./api.js";
import { FixTracker } from "./capture.js";
import { db, getCache, getMeta, setCache, setMeta } from "./db.js";
import { setLabels, t } from "./i18n.js";
import { setUser } from "./outbox.js";
import { toast } from "./ui.js";

export const state = {
  session: null, // { user, csrf_token }
  online: navigator.onLine,
  tracker: new FixTracker(),
  standards: null,
  vocab: null, // GET /api/vocab: every list the app offers (channels, actions, basemaps…)
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

// Office roles that take in, dispatch and steer cases (the revisit team only calls back):
// the server's role set, from the vocabulary.
export function isManager() {
  return (state.vocab?.role_sets?.office || []).includes(state.session?.user?.role);
}

// The revisit lists, from the server (GET /api/vocab): the app keeps no copy.
export function revisitVocab(v = state.vocab) {
  return {
    revisit_methods: v?.revisit_methods || [],
    respondent_kinds: v?.respondent_kinds || [],
    satisfaction: v?.satisfaction || [],
    attempt_outcomes: v?.attempt_outcomes || [],
    revisit_roles: v?.role_sets?.revisit || [],
  };
}

// Who records revisits (calls, door-to-door surveys).
export function isRevisitor() {
  return revisitVocab().revisit_roles.includes(state.session?.user?.role);
}

// Who records checks: the server's field role set (the revisit team records none).
export function isField() {
  const field = state.vocab?.role_sets?.field;
  return !field || field.includes(state.session?.user?.role);
}

export function isAdmin() {
  return (state.vocab?.role_sets?.admin || []).includes(state.session?.user?.role);
}

// The vocabulary comes from the server once after login and is kept on the phone, so the
// selects and action buttons work offline. The app keeps no copy of these lists.
let vocabLoading = null;

// The vocabulary in use, and the names of its values (term()) with it.
function useVocab(v) {
  state.vocab = v;
  if (v) setLabels(v.labels);
  return v;
}

export async function loadVocab({ refresh = true } = {}) {
  if (!refresh && state.vocab) return state.vocab;
  if (!vocabLoading) {
    vocabLoading = (async () => {
      try {
        useVocab(await api("GET", "/api/vocab"));
        await setCache("vocab", state.vocab);
      } catch {
        useVocab(state.vocab || (await getCache("vocab"))?.value || null);
      }
      return state.vocab;
    })().finally(() => { vocabLoading = null; });
  }
  return vocabLoading;
}

// The phone's copy only (no network): what the app starts with, so every screen names
// the vocabulary's values before the server answers.
export async function cachedVocab() {
  return state.vocab || useVocab((await getCache("vocab"))?.value || null);
}

// For views: the phone's copy at once, the server's when there is none yet.
export async function vocab() {
  if (state.vocab) return state.vocab;
  useVocab((await getCache("vocab"))?.value || null);
  return state.vocab || (await loadVocab()) || emptyVocab();
}

function emptyVocab() {
  return { channels: [], categories: [], statuses: [], open_statuses: [], colours: [],
    verdicts: [], visit_kinds: [], partners: [], zone_classes: [], role_sets: {}, actions: [],
    map: { default: null, tiles: [] } };
}

export function actionSpec(v, action) {
  return (v?.actions || []).find((a) => a.action === action) || { action, params: [] };
}

// Lists that change rarely (units, people): the server's answer, else the phone's copy.
export async function cachedGet(path) {
  try {
    const answer = await api("GET", path);
    await setCache(`get:${path}`, answer);
    return answer;
  } catch (error) {
    const stored = (await getCache(`get:${path}`))?.value;
    if (stored) return stored;
    throw error;
  }
}

// A case as the phone last saw it (the case page's copy, else the lists').
export async function cachedCase(caseId) {
  const detail = (await getCache(`case:${caseId}`))?.value?.item;
  if (detail) return detail;
  for (const key of ["cases:mine", "cases:office"]) {
    const found = (await getCache(key))?.value?.find((c) => c.id === caseId);
    if (found) return found;
  }
  return { id: caseId, subject: "", address: "", category: "noise_social" };
}

// The questionnaires, kept on the phone for surveys where there is no signal.
export async function loadQuestionnaires() {
  if (!isRevisitor()) return null;
  try {
    return await cachedGet("/api/questionnaires");
  } catch {
    return null;
  }
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

// The jobs a user follows, remembered on the device per user under these names
// (jobfollow.js adds the user's id): the batch closure files and the ledgers.
export const JOB_MEMORY = { batch: "fieldcase.batchJob", ledger: "fieldcase.ledgerJob" };

function forgetJobMemories() {
  try {
    const bases = Object.values(JOB_MEMORY).map((base) => `${base}.`);
    const kept = [];
    for (let i = 0; i < localStorage.length; i += 1) kept.push(localStorage.key(i));
    for (const key of kept) {
      if (bases.some((base) => key?.startsWith(base))) localStorage.removeItem(key);
    }
  } catch {
    // No storage here: nothing was remembered.
  }
}

// What a screen keeps in the page's memory for its user (a revealed number, the bell's
// last answer): each registers how to forget it, and forgetUserData forgets it all.
const forgetters = new Set();
export function onForget(forget) {
  forgetters.add(forget);
}

// What one user saw must not show to the next on a shared phone: cached cases, previews,
// what screens hold in memory and the jobs followed go at logout and when someone else
// logs in (the outbox keeps its items, each marked with its user).
export async function forgetUserData() {
  forgetJobMemories();
  for (const forget of forgetters) forget();
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
