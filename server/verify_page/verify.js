// The public verify page: asks the API what this page's code resolves to, shows it, and
// posts a chosen file's bytes to be hashed against it. No inline script (CSP).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const code = decodeURIComponent(location.pathname.split("/").pop() || "");
  const api = `/api/verify/${encodeURIComponent(code)}`;
  const when = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", dateStyle: "long", timeStyle: "medium",
  });
  let csrf = null; // set when the answer is a logged-in user's full record

  const time = (value) => (value ? `${when.format(new Date(value))}（北京时间）` : "—");

  function say(zh, en) {
    const status = $("status");
    status.replaceChildren(`${zh} `, Object.assign(document.createElement("span"),
      { className: "en", lang: "en", textContent: en }));
    status.hidden = false;
  }

  function show(record) {
    $("status").hidden = true;
    $("code").textContent = record.short_code; // as printed, whatever was typed
    $("sha256").textContent = record.sha256;
    $("captured-at").textContent = time(record.captured_at);
    $("received-at").textContent = time(record.received_at);
    const closed = record.public ? record.case_closed : record.case_status === "closed";
    $("case-closed").hidden = !closed;
    $("case-open").hidden = closed;
    $("full-record").hidden = record.public;
    $("closed-at-label").hidden = $("closed-at").hidden = !record.public;
    $("closed-at").textContent = time(record.closed_at);
    $("found").hidden = false;
  }

  async function csrfToken() {
    const me = await fetch("/api/me", { credentials: "same-origin" });
    return me.ok ? (await me.json()).csrf_token : null;
  }

  async function load() {
    $("code").textContent = code.toUpperCase();
    let answer;
    try {
      answer = await fetch(api, { credentials: "same-origin" });
    } catch {
      say("无法连接服务器，请稍后再试。", "The server cannot be reached; try again later.");
      return;
    }
    if (answer.status === 404) {
      $("status").hidden = true;
      $("missing").hidden = false;
      return;
    }
    if (answer.status === 429) {
      say("查询过于频繁，请稍后再试。", "Too many look-ups; try again in a minute.");
      return;
    }
    if (!answer.ok) {
      say("查询失败，请稍后再试。", "The look-up failed; try again later.");
      return;
    }
    const record = await answer.json();
    show(record);
    if (!record.public) csrf = await csrfToken(); // a logged-in write needs the token
  }

  function verdict(state, zh, en) {
    const box = $("verdict");
    box.dataset.state = state;
    box.replaceChildren(`${zh} `, Object.assign(document.createElement("span"),
      { className: "en", lang: "en", textContent: en }));
    $("result").hidden = false;
  }

  async function check() {
    const input = $("file");
    const file = input.files[0];
    if (!file) return;
    $("file-name").textContent = file.name;
    $("file-sha256").textContent = "…";
    verdict("busy", "正在核对…", "Checking…");
    const headers = { "Content-Type": "application/octet-stream" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    let answer;
    try {
      answer = await fetch(`${api}/check`, {
        method: "POST", body: file, headers, credentials: csrf ? "same-origin" : "omit",
      });
    } catch {
      verdict("error", "无法连接服务器，请稍后再试。", "The server cannot be reached.");
      return;
    } finally {
      input.value = ""; // choosing the same file again checks it again
    }
    if (!answer.ok) {
      const why = answer.status === 413 ? ["文件过大。", "The file is too large."]
        : answer.status === 429 ? ["核对过于频繁，请稍后再试。", "Too many checks; wait a minute."]
          : ["核对失败。", "The check failed."];
      verdict("error", ...why);
      $("file-sha256").textContent = "—";
      return;
    }
    const result = await answer.json();
    $("file-sha256").textContent = result.sha256;
    if (result.match) {
      verdict("match", "一致：文件与封存的照片相同", "Matches: this file is the sealed photo");
    } else {
      verdict("mismatch", "不一致：文件不是这张照片", "Does not match: this file is not the photo");
    }
  }

  $("file").addEventListener("change", check);
  load();
})();
