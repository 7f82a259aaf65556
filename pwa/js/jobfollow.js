// Following a job to its file: the panel in `slot`, drawn from the job as the server
// reports it (polled until done or failed), with its progress bar and, when done, the
// download. The job followed is remembered on this device for this user (localStorage):
// leaving the page, or closing the tab, and coming back shows it again, still running or
// finished. One place for the batch closure files (the case list) and the ledgers (the
// rates page).
import { api } from "./api.js";
import { jobFinished, jobPanel, pollDelay, pollTrouble } from "./batch.js";
import { t } from "./i18n.js";
import { state } from "./state.js";

// Each user's own entry: another user of this device never sees one's job (the server
// would answer 404 for it anyway).
export function jobMemoryKey(base, userId) {
  return `${base}.${userId || "anonymous"}`;
}

function remembered(key) {
  try {
    const kept = JSON.parse(localStorage.getItem(key) || "null");
    return kept?.id ? kept : null;
  } catch {
    return null;  // an entry this version cannot read (or no storage): as if none
  }
}

// The follower now drawing each panel (by its memory's name): a page drawn anew (the
// list's filters applied) makes a new one, and the one before stops polling.
const followers = new Map();

// `view`: the page (polling stops once it leaves the document); `slot`: the selector of
// the panel's element; `memory`: the localStorage name; `subjects()`: the cases shown,
// by id, for a refusal that names them.
export function jobFollower(view, { slot, memory, subjects = () => new Map() }) {
  const key = () => jobMemoryKey(memory, state.session?.user?.id);
  let following = null;
  let shown = null;
  // Only the job this page follows: another tab may have asked for a newer one since.
  const forget = (id) => {
    if (remembered(key())?.id !== id) return;
    try { localStorage.removeItem(key()); } catch { /* nothing kept */ }
  };

  const show = (job, label, note = "") => {
    const panel = view.querySelector(slot);
    if (!panel) return false;
    shown = { job, label };
    panel.innerHTML = jobPanel(job, label, subjects(), { note }).toString();
    panel.dataset.state = job.state;
    panel.dataset.jobId = job.id;
    panel.hidden = false;
    panel.querySelector("#job-close")?.addEventListener("click", () => {
      forget(job.id);
      following = null;
      panel.hidden = true;
      panel.innerHTML = "";
      delete panel.dataset.state;
    });
    return true;
  };

  const follow = (job, label) => {
    following = job.id;
    // A failed look (no network, server trouble) is said and tried again later and later
    // (pollDelay); a session that ended stops the polling with words, never a raw key.
    const tick = async (current, failures = 0, note = "") => {
      if (following !== current.id || !view.isConnected) return;
      if (!show(current, label, note)) return;
      if (jobFinished(current)) return;
      await new Promise((resolve) => setTimeout(resolve, pollDelay(failures)));
      if (following !== current.id || !view.isConnected) return;
      try {
        tick(await api("GET", `/api/jobs/${encodeURIComponent(current.id)}`));
      } catch (error) {
        const trouble = pollTrouble(error);
        if (trouble === "gone") {
          forget(current.id);
          return;
        }
        if (trouble === "session") {
          show(current, label, t("jobSessionEnded"));
          following = null;
          return;
        }
        tick(current, failures + 1, t("jobRetrying"));
      }
    };
    tick(job);
  };

  const follower = {
    // A job just asked for: remembered (where the browser lets it), then followed.
    start(job, label) {
      try {
        localStorage.setItem(key(), JSON.stringify({ id: job.id, label }));
      } catch { /* followed all the same, not remembered */ }
      follow(job, label);
    },
    // The job remembered, shown again (the page drawn anew, or opened again later).
    resume() {
      const kept = remembered(key());
      if (!kept) return;
      if (following === kept.id) {  // the page was drawn again: the panel with it
        if (shown?.job.id === kept.id) show(shown.job, shown.label);
        return;
      }
      api("GET", `/api/jobs/${encodeURIComponent(kept.id)}`)
        .then((job) => {
          // Not if a job was asked for meanwhile, or this one forgotten (closed elsewhere).
          if (following === null && remembered(key())?.id === kept.id) follow(job, kept.label);
        })
        .catch((error) => { if (pollTrouble(error) === "gone") forget(kept.id); });
    },
    stop() {
      following = null;
    },
  };
  followers.get(memory)?.stop();
  followers.set(memory, follower);
  return follower;
}
