// WGS-84 <-> GCJ-02 ("Mars coordinates"), which Chinese basemaps (AMap, Tencent, and
// Google's China tiles) are drawn in. The API always speaks WGS-84; the map converts when
// the tile source's crs is "gcj02". The standard published offset on the Krasovsky 1940
// ellipsoid; no offset outside China's bounding box. The inverse has no closed form: it
// is found by iteration.
const A = 6378245.0; // Krasovsky 1940 semi-major axis (m)
const EE = 0.00669342162296594323; // eccentricity squared

export function outOfChina(lat, lon) {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

function offsetLat(x, y) {
  let r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  r += ((20 * Math.sin(y * Math.PI) + 40 * Math.sin((y / 3) * Math.PI)) * 2) / 3;
  r += ((160 * Math.sin((y / 12) * Math.PI) + 320 * Math.sin((y / 30) * Math.PI)) * 2) / 3;
  return r;
}

function offsetLon(x, y) {
  let r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  r += ((20 * Math.sin(x * Math.PI) + 40 * Math.sin((x / 3) * Math.PI)) * 2) / 3;
  r += ((150 * Math.sin((x / 12) * Math.PI) + 300 * Math.sin((x / 30) * Math.PI)) * 2) / 3;
  return r;
}

function delta(lat, lon) {
  const dLat = offsetLat(lon - 105, lat - 35);
  const dLon = offsetLon(lon - 105, lat - 35);
  const radLat = (lat / 180) * Math.PI;
  const magic = 1 - EE * Math.sin(radLat) ** 2;
  const sqrtMagic = Math.sqrt(magic);
  return {
    lat: (dLat * 180) / (((A * (1 - EE)) / (magic * sqrtMagic)) * Math.PI),
    lon: (dLon * 180) / ((A / sqrtMagic) * Math.cos(radLat) * Math.PI),
  };
}

export function wgs84ToGcj02(lat, lon) {
  if (outOfChina(lat, lon)) return { lat, lon };
  const d = delta(lat, lon);
  return { lat: lat + d.lat, lon: lon + d.lon };
}

// Fixed-point iteration: guess = gcj - offset(guess) until the forward transform of the
// guess lands within 1e-9 degrees of the GCJ-02 point (well under the 1e-6 asked).
export function gcj02ToWgs84(lat, lon) {
  if (outOfChina(lat, lon)) return { lat, lon };
  let guess = { lat, lon };
  for (let i = 0; i < 30; i += 1) {
    const there = wgs84ToGcj02(guess.lat, guess.lon);
    const errLat = there.lat - lat;
    const errLon = there.lon - lon;
    if (Math.abs(errLat) < 1e-9 && Math.abs(errLon) < 1e-9) break;
    guess = { lat: guess.lat - errLat, lon: guess.lon - errLon };
  }
  return guess;
}
