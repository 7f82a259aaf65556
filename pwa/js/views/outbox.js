import { db } from "../db.js";
import { t, term } from "../i18n.js";
import * as outbox from "../outbox.js";
import { fmtTime, html } from "../ui.js";

function stateText(item) {
  const progress = outbox.status.progress[item.id];
  if (progress) {
    return html`<span data-state="sending">${t("sending")} ${Math.round(progress.fraction * 100)}%
      <progress max="1" value="${progress.fraction}"></progress></span>`;
  }
  if (item.state === "draft") return html`<span data-state="draft">${t("draft")}</span>`;
  if (item.state === "failed") {
    return html`<span data-state="failed" class="error">${t("failed")}: ${item.lastError?.message || ""}</span>`;
  }
  if (item.lastError) {
    const why = { offline: t("noNetwork"), portal: t("portal"), server: t("serverDown"),
      auth: t("needsLogin") }[item.lastError.kind] || item.lastError.message;
    return html`<span data-state="waiting">${t("waiting")}: ${why}</span>`;
  }
  return html`<span data-state="saved">${t("savedOnPhone")}</span>`;
}

async function row(item) {
  const label = item.kind === "visit" ? term(item.payload?.kind || "site_check")
    : `📷 ${item.caption || item.place || item.fileName || ""}`;
  const action = item.state === "failed"
    ? html`<button data-retry="${item.id}">${t("retry")}</button>`
    : item.state === "draft"
      ? html`<a class="button" href="#/check/${item.caseId}/${item.id}">${t("unfinished")}</a>`
      : "";
  return html`<li class="outbox-item" data-outbox-id="${item.id}" data-kind="${item.kind}">
    <span><b>${label}</b> <span class="muted small">${fmtTime(item.createdAt)}</span></span>
    ${stateText(item)} ${action}</li>`;
}

export async function renderOutbox(view) {
  const draw = async () => {
    const waiting = await outbox.items();
    const sent = (await (await db()).getAll("sent")).slice(-20).reverse();
    view.innerHTML = html`
      <section>
        <h1>${t("outbox")}</h1>
        <button class="primary big" id="sync-now" ${outbox.status.running ? "disabled" : ""}>
          ${outbox.status.running ? t("syncing") : t("syncNow")}</button>
        ${waiting.length ? html`<ul class="outbox" id="outbox-list">${await Promise.all(waiting.map(row))}</ul>`
          : html`<p class="muted" id="outbox-empty">${t("nothingWaiting")}</p>`}
        <h2>${t("sent")}</h2>
        <ul class="sent">${sent.map((s) => html`<li data-sent-id="${s.id}">${s.kind === "visit" ? "📝" : "📷"}
          ${fmtTime(s.sentAt)} <span class="muted small">${s.sha256 ? s.sha256.slice(0, 12) : ""}</span></li>`)}</ul>
      </section>`;
    view.querySelector("#sync-now").addEventListener("click", () => outbox.syncNow({ force: true }));
    for (const button of view.querySelectorAll("[data-retry]")) {
      button.addEventListener("click", () => outbox.retryFailed(button.dataset.retry));
    }
  };
  await draw();
  let pending = false;
  return outbox.onChange(() => {
    if (pending) return; // progress events come fast: redraw at most once a frame
    pending = true;
    requestAnimationFrame(async () => { pending = false; await draw(); });
  });
}
