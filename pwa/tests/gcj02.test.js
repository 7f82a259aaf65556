// GCJ-02 against published vectors: googollee/eviltransform's cross-language test set
// (go/transform_test.go, python/test.py: wgsLat, wgsLng, gcjLat, gcjLng), an independent
// implementation, and the well-known Tiananmen pair.
import assert from "node:assert/strict";
import { test } from "node:test";

import { gcj02ToWgs84, outOfChina, wgs84ToGcj02 } from "../js/gcj02.js";

const VECTORS = [
  [31.1774276, 121.5272106, 31.17530398364597, 121.531541859215], // Shanghai
  [22.543847, 113.912316, 22.540796131694766, 113.9171764808363], // Shenzhen
  [39.911954, 116.377817, 39.91334545536069, 116.38404722455657], // Beijing
];

test("WGS-84 to GCJ-02 matches the published vectors to 1e-6 degrees", () => {
  for (const [lat, lon, gLat, gLon] of VECTORS) {
    const got = wgs84ToGcj02(lat, lon);
    assert.ok(Math.abs(got.lat - gLat) < 1e-6, `${lat},${lon}: lat ${got.lat} vs ${gLat}`);
    assert.ok(Math.abs(got.lon - gLon) < 1e-6, `${lat},${lon}: lon ${got.lon} vs ${gLon}`);
  }
});

test("Tiananmen: WGS-84 (39.908692, 116.397477) is about (39.910092, 116.403719)", () => {
  const got = wgs84ToGcj02(39.908692, 116.397477);
  assert.ok(Math.abs(got.lat - 39.910092) < 2e-5, String(got.lat));
  assert.ok(Math.abs(got.lon - 116.403719) < 2e-5, String(got.lon));
});

test("GCJ-02 back to WGS-84 within 1e-6 degrees of the published WGS-84 point", () => {
  for (const [lat, lon, gLat, gLon] of VECTORS) {
    const got = gcj02ToWgs84(gLat, gLon);
    assert.ok(Math.abs(got.lat - lat) < 1e-6 && Math.abs(got.lon - lon) < 1e-6,
      `${got.lat},${got.lon} vs ${lat},${lon}`);
  }
});

test("round trips over China stay under 1e-5 degrees", () => {
  for (let lat = 18; lat <= 53; lat += 2.5) {
    for (let lon = 74; lon <= 134; lon += 3.7) {
      const g = wgs84ToGcj02(lat, lon);
      const back = gcj02ToWgs84(g.lat, g.lon);
      assert.ok(Math.abs(back.lat - lat) < 1e-5 && Math.abs(back.lon - lon) < 1e-5,
        `${lat},${lon} -> ${back.lat},${back.lon}`);
    }
  }
});

test("the demo district (Guangxi) moves by a few hundred metres", () => {
  const g = wgs84ToGcj02(24.3265, 109.4152);
  const metres = Math.hypot((g.lat - 24.3265) * 111320,
    (g.lon - 109.4152) * 111320 * Math.cos((24.3265 * Math.PI) / 180));
  assert.ok(metres > 100 && metres < 1000, String(metres));
});

test("outside China nothing moves", () => {
  for (const [lat, lon] of [[60.1467, 24.9068], [51.5007, -0.1246], [35.6762, 139.6503], [-33.86, 151.21]]) {
    assert.ok(outOfChina(lat, lon));
    assert.deepEqual(wgs84ToGcj02(lat, lon), { lat, lon });
    assert.deepEqual(gcj02ToWgs84(lat, lon), { lat, lon });
  }
});
