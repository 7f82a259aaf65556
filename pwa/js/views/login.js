import { api } from "../api.js";
import { t } from "../i18n.js";
import { go } from "../nav.js";
import * as outbox from "../outbox.js";
import { getMeta, setMeta } from "../db.js";
import { forgetUserData, loadQuestionnaires, loadStandards, loadVocab, saveSession, state } from "../state.js";
import { preloadRechecks } from "./field/recheck.js";
import { appendRef, errorText, html } from "../ui.js";

function isIosBrowser() {
  return /iPhone|iPad|iPod/.test(navigator.userAgent) && !navigator.standalone;
}

export function renderLogin(view) {
  const expired = outbox.status.needsLogin && state.session;
  view.innerHTML = html`
    <section class="card narrow">
      <h1>${t("appName")}</h1>
      ${expired ? html`<p class="notice" role="status">${t("loginAgain")}</p>` : ""}
      <form id="login-form" novalidate>
        <label for="username">${t("username")}</label>
        <input id="username" name="username" autocomplete="username" required
               autocapitalize="none" value="${state.session?.user?.username || ""}">
        <label for="password">${t("password")}</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required>
        <p id="login-error" class="error" role="alert" hidden></p>
        <button class="primary big" type="submit">${t("login")}</button>
      </form>
      ${isIosBrowser() ? html`<p class="hint">${t("iosHint")}</p>` : ""}
    </section>`;
  const form = view.querySelector("#login-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errorBox = view.querySelector("#login-error");
    errorBox.hidden = true;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const answer = await api("POST", "/api/auth/login", {
        body: { username: form.username.value.trim(), password: form.password.value },
      });
      const previous = state.session?.user?.id || (await getMeta("lastUser"));
      if (previous && previous !== answer.user.id) await forgetUserData();
      await setMeta("lastUser", answer.user.id);
      await saveSession({ user: answer.user, csrf_token: answer.csrf_token });
      loadStandards();
      await loadVocab();
      loadQuestionnaires(); // kept on the phone for surveys with no signal
      preloadRechecks(); // and the look-back re-checks, for places with no signal
      const returnTo = sessionStorage.getItem("fieldcase.returnTo") || "#/cases";
      sessionStorage.removeItem("fieldcase.returnTo");
      // Carry on with whatever was waiting when the session expired.
      outbox.loggedInAgain();
      go(returnTo === "#/login" ? "#/cases" : returnTo);
    } catch (error) {
      errorBox.textContent = error.kind === "auth" || error.status === 401
        ? t("loginFailed") : errorText(error);
      if (error.status >= 500) appendRef(errorBox, error); // not for a wrong password
      errorBox.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  view.querySelector("#username").focus();
}
