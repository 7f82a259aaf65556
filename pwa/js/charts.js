// Chart.js, loaded only by the page with charts (its UMD build as a plain <script>, served
// from the app like Leaflet: no CDN, and cached by the service worker), and drawn in the
// theme's colours.

let loading = null;

export function loadChartJs() {
  if (globalThis.Chart?.register) return Promise.resolve(globalThis.Chart);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/vendor/chart.umd.js";
      script.onload = () => resolve(globalThis.Chart);
      script.onerror = () => {
        loading = null;
        script.remove();
        reject(new Error("chart.js"));
      };
      document.head.append(script);
    });
  }
  return loading;
}

// The colours of the theme in use (dark by default, red for night vision), from its CSS
// variables: a canvas does not follow the stylesheet by itself.
export function themeColours(element = document.body) {
  const style = getComputedStyle(element);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return {
    accent: read("--accent", "#4fa3ff"),
    text: read("--text", "#e8eaed"),
    muted: read("--muted", "#9aa3ad"),
    grid: read("--line", "#2a3038"),
    font: style.fontFamily,
  };
}

// One chart on a canvas; the caller destroys it when the page goes.
export function drawChart(Chart, canvas, config, font) {
  if (font) Chart.defaults.font.family = font;
  return new Chart(canvas, config);
}
