// 对接平台 / Platforms: each hotline platform's source, where its pushed cases go (default
// unit, channel) and its tokens for the push API. A new token is shown once, here, with a
// copy button: the server keeps only its hash. Revoking asks first.
import { api } from "../../api.js";
import { getLang, t, term } from "../../i18n.js";
import { cachedGet } from "../../state.js";
import { errorRef, errorText, fmtTime, html, toast } from "../../ui.js";

// The label is the admin's text: a replacer function keeps `$&`, `$1`… in it as written
// (a replacement string would read them as patterns).
export function revokeQuestion(label) {
  return t("confirmRevokeToken").replace("{label}", () => label);
}

function tokenRow(code, token) {
  return html`<li class="card token" data-token-id="${token.id}">
    <div class="title-row"><strong>${token.label}</strong> <code>${token.prefix}…</code>
      ${token.revoked_at ? html`<span class="chip" data-state="revoked">${t("tokenRevoked")}</span>` : html`<span class="chip">${t("active")}</span>`}</div>
    <p class="muted small">${t("tokenCreated")} ${fmtTime(token.created_at)} ·
      ${t("tokenLastUsed")} ${token.last_used_at ? fmtTime(token.last_used_at) : t("tokenNeverUsed")}
      ${token.revoked_at ? html` · ${t("tokenRevoked")} ${fmtTime(token.revoked_at)}` : ""}</p>
    ${token.revoked_at ? "" : html`<button type="button" class="lite revoke-token" data-code="${code}" data-token-id="${token.id}" data-label="${token.label}">${t("revokeToken")}</button>`}
  </li>`;
}

function sourceCard(source, units, channels) {
  const name = getLang() === "zh" ? source.name_zh : source.name_en;
  const unitId = source.default_unit?.id || "";
  return html`<article class="card platform" data-source="${source.code}">
    <h3>${name} <span class="muted small">${source.code}</span></h3>
    <form class="row platform-settings" data-code="${source.code}">
      <label>${t("platformDefaultUnit")}
        <select name="default_unit_id"><option value="">${t("platformNoUnit")}</option>
          ${units.map((u) => html`<option value="${u.id}" ${u.id === unitId ? "selected" : ""}>${u.name}</option>`)}</select></label>
      <label>${t("platformChannel")}
        <select name="channel">${channels.map((c) => html`<option value="${c}" ${c === source.channel ? "selected" : ""}>${term(c)}</option>`)}</select></label>
      <button type="submit" class="lite">${t("save")}</button>
    </form>
    ${unitId ? "" : html`<p class="notice small">${t("platformNeedsUnit")}</p>`}
    <ul class="tokens">${source.tokens.map((token) => tokenRow(source.code, token))}</ul>
    <form class="row new-token" data-code="${source.code}">
      <label>${t("tokenLabel")} <input name="label" required maxlength="120" placeholder="${t("tokenLabelHint")}"></label>
      <button type="submit">${t("newToken")}</button>
    </form>
    <div class="token-result" role="status"></div>
  </article>`;
}

export async function drawPlatforms(section, v) {
  const [{ items }, unitList] = await Promise.all([
    api("GET", "/api/intake-platforms"),
    cachedGet("/api/units").catch(() => ({ items: [] })),
  ]);
  const units = unitList.items || [];
  const channels = v?.channels || [];
  section.innerHTML = html`<h2>${t("platforms")}</h2>
    <p class="muted small">${t("platformsHint")}</p>
    ${items.map((s) => sourceCard(s, units, channels))}`;

  for (const form of section.querySelectorAll(".new-token")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const code = form.dataset.code;
      const out = form.parentElement.querySelector(".token-result");
      try {
        const made = await api("POST", `/api/intake-sources/${encodeURIComponent(code)}/tokens`,
          { body: { label: new FormData(form).get("label") } });
        await drawPlatforms(section, v);
        // Shown this once: after a redraw the list has only its first characters.
        const card = section.querySelector(`.platform[data-source="${CSS.escape(code)}"]`);
        const result = card.querySelector(".token-result");
        result.innerHTML = html`<div class="notice new-token-shown">
          <p><strong>${t("tokenOnce")}</strong></p>
          <p><code class="token-value">${made.token}</code>
            <button type="button" class="lite copy-token">${t("copy")}</button></p></div>`;
        result.querySelector(".copy-token").addEventListener("click", async () => {
          try {
            await navigator.clipboard.writeText(made.token);
            toast(t("tokenCopied"));
          } catch {
            // No clipboard (plain http, a refused permission): select it to copy by hand.
            getSelection().selectAllChildren(result.querySelector(".token-value"));
          }
        });
      } catch (error) {
        out.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`;
      }
    });
  }
  for (const form of section.querySelectorAll(".platform-settings")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = new FormData(form);
      const out = form.parentElement.querySelector(".token-result");
      try {
        await api("PATCH", `/api/intake-sources/${encodeURIComponent(form.dataset.code)}`,
          { body: { default_unit_id: f.get("default_unit_id") || null, channel: f.get("channel") } });
        toast(t("saved"));
        await drawPlatforms(section, v);
      } catch (error) {
        out.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`;
      }
    });
  }
  for (const button of section.querySelectorAll(".revoke-token")) {
    button.addEventListener("click", async () => {
      if (!confirm(revokeQuestion(button.dataset.label))) return;
      const out = button.closest(".platform").querySelector(".token-result");
      try {
        await api("DELETE", `/api/intake-sources/${encodeURIComponent(button.dataset.code)}/tokens/${button.dataset.tokenId}`);
        await drawPlatforms(section, v);
      } catch (error) {
        out.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`;
      }
    });
  }
}
