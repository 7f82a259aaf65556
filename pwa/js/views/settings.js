import { api, setCsrf } from "../api.js";
import { getLang, setLang, t } from "../i18n.js";
import { go } from "../nav.js";
import * as outbox from "../outbox.js";
import { forgetUserData, saveSession, state } from "../state.js";
import { html, toast } from "../ui.js";

export async function renderSettings(view) {
  let storage = "";
  try {
    const { quota, usage } = await navigator.storage.estimate();
    const persisted = await navigator.storage.persisted?.();
    storage = `${(usage / 1e6).toFixed(1)} MB / ${(quota / 1e9).toFixed(1)} GB`
      + (persisted ? ` · ${t("persisted")}` : "");
  } catch {
    storage = "—";
  }
  const user = state.session?.user;
  view.innerHTML = html`
    <section>
      <h1>${t("settings")}</h1>
      <p>${user?.display_name || ""} · ${user?.role || ""} · ${(user?.units || []).map((u) => u.name).join(", ")}</p>
      <label for="lang-select">${t("language")}</label>
      <select id="lang-select">
        <option value="zh" ${getLang() === "zh" ? "selected" : ""}>中文</option>
        <option value="en" ${getLang() === "en" ? "selected" : ""}>English</option>
      </select>
      <label class="chip"><input type="checkbox" id="red" ${document.body.classList.contains("red") ? "checked" : ""}>
        ${t("nightVision")}</label>
      <p>${t("storage")}: ${storage}</p>
      <p class="hint">${t("iosHint")}</p>
      <button id="logout">${t("logout")}</button>
    </section>`;
  view.querySelector("#lang-select").addEventListener("change", (event) => {
    setLang(event.target.value);
    location.reload();
  });
  view.querySelector("#red").addEventListener("change", (event) => {
    document.body.classList.toggle("red", event.target.checked);
    localStorage.setItem("fieldcase.red", event.target.checked ? "1" : "0");
  });
  view.querySelector("#logout").addEventListener("click", async () => {
    const waiting = (await outbox.items()).length;
    try {
      // The CSRF token goes with it (api() adds it). A token older than this browser's
      // last login is refused: take the live one and end that session too.
      await api("POST", "/api/auth/logout").catch(async (error) => {
        if (error.code !== "auth.csrf_failed") throw error;
        setCsrf((await api("GET", "/api/me")).csrf_token);
        await api("POST", "/api/auth/logout");
      });
    } catch (error) {
      // The session cookie is HttpOnly: only the server can end it. Logging out locally
      // while offline would leave a live session behind on a shared phone.
      if (error.kind === "offline" || error.kind === "portal") {
        toast(t("logoutOffline"), "error");
        return;
      }
    }
    await forgetUserData();
    // Items waiting stay on the phone, held for whoever captured them.
    await saveSession(null);
    if (waiting) toast(`${waiting} · ${t("waiting")}`);
    go("#/login");
  });
}
