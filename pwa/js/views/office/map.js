// The map wall (挂图作战): open cases as markers coloured by their deadline colour, overdue
// apart, evidence photos as small dots, popups linking to the case. The basemap comes from
// the vocabulary; when none is reachable the markers show on a plain background.
import { api } from "../../api.js";
import { colourChip, keyMark, statusChip } from "../../caseui.js";
import { getCache, setCache } from "../../db.js";
import { t, term } from "../../i18n.js";
import { BaseMap, basemapSelect, loadLeaflet } from "../../mapkit.js";
import { vocab } from "../../state.js";
import { appendRef, errorText, fmtDue, fmtTime, html, safeUrl } from "../../ui.js";

// Marker colours: the board's chips (readable on the dark background).
export const PAINT = { green: "#2e9e5b", blue: "#2f7de1", yellow: "#e9c318", red: "#e5484d",
  overdue: "#ff2d95", none: "#8a939d" };

function colourKey(p) {
  return p.overdue ? "overdue" : p.colour || "none";
}

function popup(p) {
  if (p.kind === "evidence") {
    return html`<div class="popup" data-evidence-id="${p.id}">
      ${p.thumb_url ? html`<img src="${safeUrl(p.thumb_url)}" alt="" width="160">` : ""}
      <b>${t("photoOnMap")}</b> ${fmtTime(p.captured_at)}<br>${p.place || ""} ${p.caption || ""}<br>
      <a href="#/case/${p.case_id}">${t("openCase")}</a></div>`.toString();
  }
  return html`<div class="popup" data-case-id="${p.id}"><b>${p.subject}</b> ${keyMark(p)}<br>
    ${p.address || ""}<br>${statusChip(p.status)} ${colourChip(colourKey(p))}
    ${p.due_at ? html`${t("due")} ${fmtDue(p.due_at)}` : ""}<br>
    <a href="#/case/${p.id}">${t("openCase")}</a></div>`.toString();
}

export async function renderMap(view) {
  const v = await vocab();
  view.innerHTML = html`
    <section class="map-page">
      <div class="title-row"><h1>${t("map")}</h1>${basemapSelect(v)}</div>
      <p class="notice small" id="basemap-note" hidden>${t("basemapDown")}</p>
      <div id="map" class="map big-map" role="application" aria-label="${t("map")}"></div>
      <ul class="legend" aria-label="${t("legend")}">
        ${[...(v.colours || []), "overdue"].map((c) => html`<li><span class="dot" data-colour="${c}"></span>${term(c)}</li>`)}
        <li><span class="dot small-dot"></span>${t("photoOnMap")}</li>
      </ul>
      <p class="muted small" id="map-status" role="status"></p>
    </section>`;
  const status = view.querySelector("#map-status");
  let L;
  try {
    L = await loadLeaflet();
  } catch {
    status.textContent = t("error");
    return null;
  }
  const element = view.querySelector("#map");
  if (!element?.isConnected) return null;
  const base = new BaseMap(L, element, v, view.querySelector("#basemap-note"));
  // Under each dot, a transparent 44 px target (a thumb hits it; WCAG 2.5.5) that the
  // keyboard reaches too: focusable, named by the case, Enter opens the same popup.
  const hits = L.featureGroup().addTo(base.map);
  const markers = L.featureGroup().addTo(base.map);
  let features = [];

  const place = () => {
    markers.clearLayers();
    hits.clearLayers();
    for (const feature of features) {
      const [lon, lat] = feature.geometry?.coordinates || [];
      if (!Number.isFinite(lat) || !Number.isFinite(lon)) continue;
      const p = feature.properties || {};
      const key = colourKey(p);
      const photo = p.kind === "evidence";
      const marker = L.circleMarker(base.toMap(lat, lon), {
        radius: photo ? 4 : p.key ? 11 : 9, color: p.overdue ? "#ffffff" : "#0b0d10",
        weight: p.overdue ? 3 : 2, dashArray: p.overdue ? "4 3" : null,
        fillColor: PAINT[key] || PAINT.none, fillOpacity: photo ? 0.8 : 0.95,
        className: `marker marker-${photo ? "photo" : "case"} marker-${key}`,
      });
      marker.feature = feature;
      marker.bindPopup(popup(p));
      marker.addTo(markers);
      const hit = L.circleMarker(base.toMap(lat, lon), { radius: 22, stroke: false, fillOpacity: 0,
        fillColor: "#000", className: "marker-hit" });
      hit.bindPopup(popup(p));
      hit.addTo(hits);
      const el = hit.getElement?.();
      if (el) {
        el.setAttribute("tabindex", "0");
        el.setAttribute("role", "button");
        el.setAttribute("aria-label", photo ? `${t("photoOnMap")} ${fmtTime(p.captured_at)}`
          : [p.subject, p.overdue ? t("overdue") : p.colour && term(p.colour)].filter(Boolean).join(" · "));
        el.addEventListener("keydown", (event) => {
          if (event.key !== "Enter" && event.key !== " ") return;
          event.preventDefault();
          hit.openPopup();
        });
      }
    }
    // Markers carry data attributes for tests and tools (the path is an SVG element).
    markers.eachLayer((m) => {
      const el = m.getElement?.();
      if (!el) return;
      const p = m.feature.properties || {};
      el.dataset.kind = p.kind || "case";
      el.dataset.id = p.id;
      el.dataset.colour = colourKey(p);
    });
  };
  base.onChange(place);
  base.use();
  view.querySelector("#basemap")?.addEventListener("change", (event) => {
    base.use(event.target.value);
    if (features.length) base.map.fitBounds(markers.getBounds(), { padding: [24, 24], maxZoom: 16 });
  });

  const show = (collection, note) => {
    features = collection?.features || [];
    place();
    const cases = features.filter((f) => (f.properties?.kind || "case") === "case").length;
    status.textContent = `${note ? `${note} · ` : ""}${cases} ${t("case")} · ${features.length - cases} ${t("photoOnMap")} · ${t("mapNoLocation")}`;
    if (markers.getLayers().length) base.map.fitBounds(markers.getBounds(), { padding: [24, 24], maxZoom: 16 });
    else base.map.setView([35, 105], 4);
    element.dataset.markers = String(markers.getLayers().length);
  };

  const cached = await getCache("map:geojson");
  if (cached?.value) show(cached.value, `${t("lastUpdated")} ${fmtTime(cached.at)}`);
  try {
    const collection = await api("GET", "/api/cases.geojson");
    await setCache("map:geojson", collection);
    if (element.isConnected) show(collection);
  } catch (error) {
    if (!cached?.value) {
      show({ features: [] });
      status.textContent = errorText(error);
      appendRef(status, error);
    }
  }
  return () => base.map.remove();
}

