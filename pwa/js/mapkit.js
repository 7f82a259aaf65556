// Leaflet, loaded only by the screens with a map (its UMD build as a plain <script>, no
// inline code), and the basemaps from the vocabulary. The API speaks WGS-84; a basemap
// drawn in GCJ-02 gets every point converted on the way in, and a dropped pin on the way
// out. With no basemap reachable the markers still show on a plain background.
import { gcj02ToWgs84, wgs84ToGcj02 } from "./gcj02.js";
import { t } from "./i18n.js";
import { html } from "./ui.js";

let loading = null;

export function loadLeaflet() {
  if (globalThis.L?.map) return Promise.resolve(globalThis.L);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      if (!document.querySelector("link[data-leaflet]")) {
        const css = document.createElement("link");
        css.rel = "stylesheet";
        css.href = "/vendor/leaflet/leaflet.css";
        css.dataset.leaflet = "1";
        document.head.append(css);
      }
      const script = document.createElement("script");
      script.src = "/vendor/leaflet/leaflet.js";
      script.onload = () => {
        globalThis.L.Icon.Default.imagePath = "/vendor/leaflet/images/";
        resolve(globalThis.L);
      };
      script.onerror = () => {
        loading = null;
        reject(new Error("leaflet"));
      };
      document.head.append(script);
    });
  }
  return loading;
}

const STORE = "fieldcase.basemap";

export function tileSources(v) {
  return v?.map?.tiles || [];
}

export function chosenSource(v) {
  const tiles = tileSources(v);
  const saved = localStorage.getItem(STORE);
  return tiles.find((x) => x.code === saved) || tiles.find((x) => x.code === v?.map?.default)
    || tiles[0] || null;
}

export function basemapSelect(v) {
  const tiles = tileSources(v);
  if (tiles.length < 2) return "";
  const current = chosenSource(v)?.code;
  return html`<label class="inline">${t("basemap")}
    <select id="basemap">${tiles.map((x) => html`<option value="${x.code}" ${x.code === current ? "selected" : ""}>${x.name}</option>`)}</select></label>`;
}

// A map with the chosen basemap; `note` shows when no tile could be loaded.
export class BaseMap {
  constructor(L, element, v, note) {
    this.L = L;
    this.v = v;
    this.note = note;
    this.map = L.map(element, { zoomControl: true, attributionControl: true, worldCopyJump: true });
    // A view at once: Leaflet draws layers only on a map that has one.
    this.map.setView([35, 105], 4);
    this.layer = null;
    this.source = null;
    this.listeners = [];
  }

  get crs() {
    return this.source?.crs === "gcj02" ? "gcj02" : "wgs84";
  }

  // WGS-84 (from the API) to where it shows on this basemap.
  toMap(lat, lon) {
    if (this.crs !== "gcj02") return [lat, lon];
    const p = wgs84ToGcj02(lat, lon);
    return [p.lat, p.lon];
  }

  // A point on this basemap back to WGS-84 (for the API).
  fromMap(latlng) {
    if (this.crs !== "gcj02") return { lat: latlng.lat, lon: latlng.lng };
    return gcj02ToWgs84(latlng.lat, latlng.lng);
  }

  onChange(listener) {
    this.listeners.push(listener);
  }

  use(code) {
    const tiles = tileSources(this.v);
    const source = tiles.find((x) => x.code === code) || chosenSource(this.v);
    if (code) localStorage.setItem(STORE, code);
    if (this.layer) this.layer.remove();
    this.source = source;
    if (this.note) this.note.hidden = true;
    if (!source) {
      if (this.note) this.note.hidden = false;
      this.listeners.forEach((fn) => fn());
      return;
    }
    let loaded = 0;
    const options = { attribution: source.attribution || "", maxZoom: source.max_zoom || 18 };
    if (source.subdomains?.length) options.subdomains = source.subdomains;
    this.layer = this.L.tileLayer(source.url, options);
    this.layer.on("tileload", () => {
      loaded += 1;
      if (this.note) this.note.hidden = true;
    });
    this.layer.on("tileerror", () => {
      if (!loaded && this.note) this.note.hidden = false;
    });
    this.layer.addTo(this.map);
    this.listeners.forEach((fn) => fn());
  }
}
