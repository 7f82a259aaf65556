// Service worker: serves the app shell offline. API answers are never cached here (the
// app keeps its own data in IndexedDB); the shell is cache-first and refreshed on update.
const BUILD = "__BUILD__"; // replaced by the server with a hash of the app's files
const CACHE = `fieldcase-shell-${BUILD}`;
const SHELL = [
  "/", "/index.html", "/manifest.webmanifest", "/css/app.css", "/vendor/idb.js",
  "/vendor/leaflet/leaflet.js", "/vendor/leaflet/leaflet.css",
  "/vendor/leaflet/images/layers.png", "/vendor/leaflet/images/layers-2x.png",
  "/vendor/leaflet/images/marker-icon.png", "/vendor/leaflet/images/marker-icon-2x.png",
  "/vendor/leaflet/images/marker-shadow.png", "/vendor/chart.umd.js",
  "/js/app.js", "/js/actions.js", "/js/api.js", "/js/capture.js", "/js/caseui.js", "/js/db.js",
  "/js/gcj02.js", "/js/i18n.js", "/js/mapkit.js", "/js/nav.js", "/js/noise.js", "/js/noiserecord.js", "/js/verdict.js",
  "/js/notifications.js", "/js/outbox.js", "/js/questionnaire.js", "/js/review.js", "/js/state.js",
  "/js/ui.js", "/js/redraw.js", "/js/savechain.js", "/js/batch.js", "/js/jobfollow.js", "/js/answers.js", "/js/timeline.js",
  "/js/views/case.js", "/js/views/cases.js", "/js/views/login.js", "/js/views/outbox.js",
  "/js/views/office/repeatbanner.js", "/js/views/office/repeats.js",
  "/js/views/settings.js", "/js/views/field/check.js", "/js/views/revisit/revisit.js",
  "/js/views/revisit/survey.js", "/js/views/office/board.js", "/js/views/office/caseform.js",
  "/js/views/office/map.js", "/js/views/office/review.js", "/js/views/office/samples.js",
  "/js/views/admin/admin.js", "/js/views/admin/qeditor.js", "/js/views/admin/platforms.js",
  "/js/leaders.js", "/js/views/caseleaders.js",
  "/js/views/hardcase.js",
  "/js/importing.js", "/js/views/office/import.js",
  "/js/campaigns.js", "/js/views/office/campaigns.js", "/js/views/field/recheck.js",
  "/js/views/caseplans.js", "/js/stats.js", "/js/charts.js", "/js/views/office/stats.js",
  "/icons/icon-192.png", "/icons/icon-512.png", "/icons/icon-maskable-512.png",
  "/icons/apple-touch-icon.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("fieldcase-shell-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin
      || url.pathname.startsWith("/api/")
      || url.pathname.startsWith("/v/")) {  // the public verify page is not the app
    return; // the network, untouched
  }
  if (event.request.mode === "navigate") {
    // Any page of the app opens the shell, online or not.
    event.respondWith(caches.match("/index.html").then((hit) => hit || fetch(event.request)));
    return;
  }
  event.respondWith(caches.match(event.request, { ignoreSearch: true })
    .then((hit) => hit || fetch(event.request)));
});

// Background Sync (Chromium only) is an extra trigger: the page does the sending.
self.addEventListener("sync", (event) => {
  if (event.tag === "fieldcase-outbox") {
    event.waitUntil(self.clients.matchAll({ includeUncontrolled: true }).then((clients) => {
      for (const client of clients) client.postMessage({ type: "sync" });
    }));
  }
});
