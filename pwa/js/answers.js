// What residents said, for the office: each revisit's respondents with their answers, the
// question texts of the questionnaire version they were asked under (the API serves them
// with the revisit), in the user's language; the dissatisfied marked. And the interview
// recordings as players. Only what the API gives is drawn: a role the server gives no
// answers or recordings sees none.
import { getLang, t, term } from "./i18n.js";
import { label } from "./questionnaire.js";
import { fmtTime, html, safeUrl } from "./ui.js";

export function isAudio(ev) {
  return String(ev?.content_type || "").startsWith("audio/");
}

// An answer as a reader sees it: options by their label, yes/no as words.
export function answerText(q, value) {
  if (value === undefined || value === null || value === "" || (Array.isArray(value) && !value.length)) return "";
  const option = (v) => label((q.options || []).find((o) => o.value === v)?.label) || String(v);
  if (q.kind === "single") return option(value);
  if (q.kind === "multi") return (Array.isArray(value) ? value : [value]).map(option).join(getLang() === "zh" ? "、" : ", ");
  if (q.kind === "yesno") return value === true ? t("yes") : value === false ? t("no") : String(value);
  if (q.kind === "scale") return `${value}（${q.min}–${q.max}）`;
  return String(value);
}

function seconds(s) {
  if (s == null) return "";
  const n = Math.round(s);
  return `${Math.floor(n / 60)}:${String(n % 60).padStart(2, "0")}`;
}

// One recording: a player that fetches nothing until played (each fetch of an original is
// recorded by the server), with its length and time.
export function audioPlayer(ev) {
  const name = `${t("recording")} ${fmtTime(ev.captured_at)}`;
  return html`<div class="recording" data-evidence-id="${ev.id}">
    ${ev.download_url ? html`<audio controls preload="none" src="${safeUrl(ev.download_url)}" aria-label="${name}"></audio>`
      : html`<span class="muted small">${t("recordingPending")}</span>`}
    <span class="muted small">${name}${ev.duration_s != null ? ` · ${seconds(ev.duration_s)}` : ""}</span>
  </div>`;
}

function answerRows(questions, answers, dissatisfied) {
  const rows = [];
  for (const q of questions) {
    const text = answerText(q, answers[q.key]);
    if (!text) continue;
    const bad = q.satisfaction ? answers[q.key] === "dissatisfied" : false;
    rows.push(html`<dt>${label(q.label)}</dt><dd class="${bad || (dissatisfied && q.kind === "text") ? "answer-dissatisfied" : ""}"
      data-question="${q.key}">${bad ? html`<mark>${text}</mark>` : text}</dd>`);
  }
  // Keys the version does not name (none, as the server checks them) still show.
  for (const key of Object.keys(answers)) {
    if (!questions.some((q) => q.key === key)) rows.push(html`<dt>${key}</dt><dd>${String(answers[key])}</dd>`);
  }
  return rows;
}

// A revisit's respondents and their answers; `recordings`: the audio evidence of the case.
export function respondentsBlock(revisit, recordings = []) {
  const questions = revisit.questionnaire?.questions || [];
  const people = (revisit.respondents || []).map((p) => {
    const answers = p.answers || {};
    const dissatisfied = p.satisfaction === "dissatisfied";
    const rows = answerRows(questions, answers, dissatisfied);
    const heard = recordings.filter((ev) => ev.respondent_id === p.id);
    if (!rows.length && !heard.length && !p.satisfaction) return "";
    return html`<section class="respondent${dissatisfied ? " dissatisfied" : ""}" data-respondent-id="${p.id}"
        data-satisfaction="${p.satisfaction || ""}">
      <p class="respondent-head"><b>${term(`respondent.${p.kind}`)}</b>${p.name ? ` ${p.name}` : ""}
        ${p.satisfaction ? html`<span class="chip-status satisfaction-${p.satisfaction}">${term(p.satisfaction)}</span>` : ""}</p>
      ${rows.length ? html`<dl class="answers">${rows}</dl>` : ""}
      ${heard.map(audioPlayer)}
    </section>`;
  });
  // A recording tied to the revisit but to no respondent (still shown, never lost).
  const loose = recordings.filter((ev) => ev.revisit_id === revisit.id
    && !(revisit.respondents || []).some((p) => p.id === ev.respondent_id));
  const title = revisit.questionnaire ? label(revisit.questionnaire.title) : "";
  const shown = people.filter((x) => x !== "");
  if (!shown.length && !loose.length) return "";
  return html`<div class="revisit-answers">
    ${title ? html`<p class="muted small">${t("questionnaire")}: ${title} · v${revisit.questionnaire.version}</p>` : ""}
    ${shown}${loose.map(audioPlayer)}</div>`;
}
