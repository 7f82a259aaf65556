// Office intake: a new case (POST /api/cases) or an edit (PATCH with the version seen),
// with the place as a pin on a map (click or drag; or typed lat/lon; or the address alone).
import { showErrors } from "../../actions.js";
import { api } from "../../api.js";
import { getCache } from "../../db.js";
import { t, term } from "../../i18n.js";
import { BaseMap, basemapSelect, loadLeaflet } from "../../mapkit.js";
import { go } from "../../nav.js";
import { cachedGet, vocab } from "../../state.js";
import { errorRef, errorText, html, toast } from "../../ui.js";

function localInput(iso) {
  const d = iso ? new Date(iso) : new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// Where to centre a map with no pin yet: the cases this office already has, else China.
async function defaultCentre() {
  const list = (await getCache("cases:office"))?.value || (await getCache("cases:mine"))?.value || [];
  const points = list.filter((c) => c.location).map((c) => c.location);
  if (!points.length) return { lat: 35, lon: 105, zoom: 4 };
  const mean = (k) => points.reduce((s, p) => s + p[k], 0) / points.length;
  return { lat: mean("lat"), lon: mean("lon"), zoom: 13 };
}

export async function renderCaseForm(view, caseId) {
  const v = await vocab();
  let item = null;
  if (caseId) {
    try {
      item = await api("GET", `/api/cases/${caseId}`);
    } catch (error) {
      view.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`;
      return null;
    }
  }
  let units = [];
  try { units = (await cachedGet("/api/units")).items || []; } catch { units = []; }
  // Leaders in scope to hold the case (包案); the server checks they are over its unit.
  let leaders = [];
  try { leaders = (await cachedGet("/api/leaders")).items || []; } catch { leaders = []; }
  const options = (values, selected) => values.map((x) => html`<option value="${x}" ${x === selected ? "selected" : ""}>${term(x)}</option>`);
  const loc = item?.location;
  const currentUnit = item?.unit_id || item?.unit?.id;
  // After dispatch the case moves only by transfer (its reason and event): the server
  // refuses a changed unit in an edit, so the form does not offer one.
  const unitFixed = Boolean(item) && item.status !== "received";
  view.innerHTML = html`
    <section class="case-form">
      <a class="back" href="#/${caseId ? `case/${caseId}` : "cases"}">← ${t("back")}</a>
      <h1>${caseId ? t("editCase") : t("newCase")}</h1>
      <form id="case-form" novalidate>
        <div class="form-grid">
          <div>
            <label for="f-channel">${t("channel")} *</label>
            <select id="f-channel" name="channel" required><option value=""></option>${options(v.channels || [], item?.channel)}</select>
            <label for="f-category">${t("category")} *</label>
            <select id="f-category" name="category" required><option value=""></option>${options(v.categories || [], item?.category)}</select>
            <label for="f-subject">${t("subject")} *</label>
            <input id="f-subject" name="subject" required value="${item?.subject || ""}">
            <label for="f-address">${t("address")} *</label>
            <input id="f-address" name="address" required value="${item?.address || ""}">
            <label for="f-description">${t("description")}</label>
            <textarea id="f-description" name="description" rows="4">${item?.description || ""}</textarea>
            <label for="f-received">${t("receivedAt")} *</label>
            <input id="f-received" name="received_at" type="datetime-local" required value="${localInput(item?.received_at)}">
            <label for="f-unit">${t("unit")} *</label>
            <select id="f-unit" name="unit_id" required ${unitFixed ? html`disabled aria-describedby="f-unit-hint"` : ""}><option value=""></option>
              ${units.map((u) => html`<option value="${u.id}" ${u.id === currentUnit ? "selected" : ""}>${u.name}</option>`)}</select>
            ${unitFixed ? html`<p class="muted small" id="f-unit-hint">${t("unitByTransferHint")}</p>` : ""}
            <label class="chip"><input type="checkbox" id="f-key" name="key" ${item?.key ? "checked" : ""}> ★ ${t("keyFlag")}</label>
            <label for="f-leader-id">${t("leader")}</label>
            <select id="f-leader-id" name="leader_id"><option value="">—</option>
              ${leaders.map((l) => html`<option value="${l.id}" ${l.id === item?.leader?.id ? "selected" : ""}>${l.display_name}</option>`)}</select>
            <label for="f-leader">${t("leaderText")}</label>
            <input id="f-leader" name="leader" value="${item?.leader && !item.leader.id ? item.leader.name : ""}">
            <label for="f-ref">${t("externalRef")}</label>
            <input id="f-ref" name="external_ref" value="${item?.external_ref || ""}">
            <label for="f-cname">${t("complainantName")}</label>
            <input id="f-cname" name="complainant_name" autocomplete="off" value="${item?.complainant?.name || ""}">
            <label for="f-cphone">${t("complainantPhone")}</label>
            <input id="f-cphone" name="complainant_phone" type="tel" autocomplete="off" value="${item?.complainant?.phone || ""}">
          </div>
          <div>
            <fieldset class="location">
              <legend>${t("location")}</legend>
              <p class="muted small">${t("pinHint")}</p>
              <div class="latlon">
                <label>${t("lat")} <input id="f-lat" name="lat" type="number" step="any" min="-90" max="90" value="${loc?.lat ?? ""}"></label>
                <label>${t("lon")} <input id="f-lon" name="lon" type="number" step="any" min="-180" max="180" value="${loc?.lon ?? ""}"></label>
              </div>
              <button type="button" id="clear-pin">${t("clearPin")}</button>
              ${basemapSelect(v)}
              <p class="notice small" id="basemap-note" hidden>${t("basemapDown")}</p>
              <div id="pin-map" class="map small-map" role="application" aria-label="${t("location")}"></div>
            </fieldset>
          </div>
        </div>
        <p class="error" id="form-error" role="alert" hidden></p>
        <div class="row"><button class="primary big" type="submit" id="save-case">${caseId ? t("save") : t("newCase")}</button></div>
      </form>
    </section>`;
  const form = view.querySelector("#case-form");
  const latInput = form.querySelector("#f-lat");
  const lonInput = form.querySelector("#f-lon");
  let moveBy = null; // set once the map is up: places the pin from the inputs

  // The map is a help, not a requirement: without Leaflet the inputs still work.
  (async () => {
    let L;
    try { L = await loadLeaflet(); } catch { return; }
    const element = view.querySelector("#pin-map");
    if (!element?.isConnected) return;
    const base = new BaseMap(L, element, v, view.querySelector("#basemap-note"));
    let pin = null;
    const place = (lat, lon) => {
      if (!Number.isFinite(lat) || !Number.isFinite(lon)) {
        pin?.remove();
        pin = null;
        return;
      }
      const at = base.toMap(lat, lon);
      if (!pin) {
        pin = L.marker(at, { draggable: true, autoPan: true, title: t("location") }).addTo(base.map);
        pin.on("dragend", () => setInputs(base.fromMap(pin.getLatLng())));
      } else pin.setLatLng(at);
    };
    const setInputs = (p) => {
      latInput.value = p.lat.toFixed(6);
      lonInput.value = p.lon.toFixed(6);
    };
    moveBy = () => place(parseFloat(latInput.value), parseFloat(lonInput.value));
    base.onChange(() => moveBy());
    base.use();
    const centre = loc ? { ...loc, zoom: 16 } : await defaultCentre();
    base.map.setView(base.toMap(centre.lat, centre.lon), centre.zoom);
    base.map.on("click", (event) => {
      const p = base.fromMap(event.latlng);
      setInputs(p);
      place(p.lat, p.lon);
    });
    view.querySelector("#basemap")?.addEventListener("change", (event) => base.use(event.target.value));
  })();
  for (const input of [latInput, lonInput]) input.addEventListener("input", () => moveBy?.());
  view.querySelector("#clear-pin").addEventListener("click", () => {
    latInput.value = "";
    lonInput.value = "";
    moveBy?.();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const errors = {};
    for (const name of ["channel", "category", "subject", "address", "received_at",
      ...(unitFixed ? [] : ["unit_id"])]) {
      if (!String(data.get(name) || "").trim()) errors[name] = [t("required")];
    }
    const lat = data.get("lat");
    const lon = data.get("lon");
    if ((lat === "") !== (lon === "")) errors[lat === "" ? "lat" : "lon"] = [t("required")];
    if (Object.keys(errors).length) return showErrors(form, errors);
    const body = {
      channel: data.get("channel"), category: data.get("category"),
      subject: data.get("subject").trim(), address: data.get("address").trim(),
      description: data.get("description").trim(),
      received_at: new Date(data.get("received_at")).toISOString(),
      unit_id: unitFixed ? currentUnit : data.get("unit_id"), key: form.querySelector("#f-key").checked,
      leader: data.get("leader").trim() || null, leader_id: data.get("leader_id") || null,
      external_ref: data.get("external_ref").trim() || null,
      location: lat !== "" ? { lat: Number(lat), lon: Number(lon) } : null,
    };
    const name = data.get("complainant_name").trim();
    const phone = data.get("complainant_phone").trim();
    const complainant = name || phone ? { name: name || null, phone: phone || null } : null;
    const button = form.querySelector("#save-case");
    button.disabled = true;
    try {
      if (!item) {
        if (complainant) body.complainant = complainant;
        if (!body.location) delete body.location;
        const created = await api("POST", "/api/cases", { body });
        toast(t("created"));
        go(`#/case/${created.id}`, { replace: true });
      } else {
        // Only what changed; the complainant shows masked, so it is sent only when retyped.
        const patch = { version: item.version };
        for (const [key, value] of Object.entries(body)) {
          const before = key === "location" ? item.location || null
            : key === "received_at" ? new Date(item.received_at).toISOString()
              : key === "leader_id" ? item.leader?.id ?? null
                : key === "leader" ? (item.leader && !item.leader.id ? item.leader.name : null)
                  : item[key] ?? null;
          if (JSON.stringify(value ?? null) !== JSON.stringify(before)
              && !(key === "received_at" && localInput(item.received_at) === data.get("received_at"))) {
            patch[key] = value;
          }
        }
        if ((name || null) !== (item.complainant?.name || null)
            || (phone || null) !== (item.complainant?.phone || null)) patch.complainant = complainant;
        await api("PATCH", `/api/cases/${item.id}`, { body: patch });
        toast(t("saved"));
        go(`#/case/${item.id}`, { replace: true });
      }
    } catch (error) {
      button.disabled = false;
      if (error.problem?.code === "case.version_conflict") {
        const box = form.querySelector("#form-error");
        box.innerHTML = html`${t("versionConflict")} <button type="button" id="reload-case">${t("refresh")}</button>`.toString();
        box.hidden = false;
        box.querySelector("#reload-case").addEventListener("click", () => renderCaseForm(view, caseId));
      } else {
        // A sealed case is read-only (409 case.closed) until a reopen.
        const closed = error.problem?.code === "case.closed" ? t("caseClosedEdit") : null;
        showErrors(form, flatten(error.problem?.errors), closed || errorText(error), error);
      }
    }
  });
  return null;
}

// {complainant: {phone: [..]}} -> {complainant_phone: [..]}, {location: …} -> {lat: …}
function flatten(errors) {
  const out = {};
  for (const [key, value] of Object.entries(errors || {})) {
    if (Array.isArray(value)) out[key === "location" ? "lat" : key] = value;
    else if (value && typeof value === "object") {
      for (const [inner, messages] of Object.entries(value)) {
        const name = key === "location" ? inner : `${key}_${inner}`;
        out[name] = [].concat(messages);
      }
    }
  }
  return out;
}
