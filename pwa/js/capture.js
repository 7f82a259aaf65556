// Capture: the phone's own camera through a file input, the location from the
// Geolocation API (browsers strip EXIF GPS), the SHA-256 of the untouched bytes.
import { attachLateFix, savePhoto, uuid } from "./outbox.js";
import { db } from "./db.js";

const FIX_MAX_AGE_MS = 2 * 60 * 1000;
const GOOD_ACCURACY_M = 100;

export class FixTracker {
  constructor() {
    this.best = null;
    this.watchId = null;
    this.listeners = new Set();
  }

  start() {
    if (!navigator.geolocation || this.watchId !== null) return;
    this.watchId = navigator.geolocation.watchPosition(
      (position) => this.#onPosition(position),
      (error) => {
        this.#emit({ error: error.message });
        // GPS off, no signal yet, permission given later: watch again shortly.
        this.stop();
        clearTimeout(this.retry);
        this.retry = setTimeout(() => this.start(), 5000);
      },
      { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 },
    );
  }

  stop() {
    if (this.watchId !== null) navigator.geolocation.clearWatch(this.watchId);
    this.watchId = null;
  }

  // The most accurate fix among the recent ones.
  current() {
    if (!this.best) return null;
    if (Date.now() - Date.parse(this.best.fixed_at) > FIX_MAX_AGE_MS) return null;
    return this.best;
  }

  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  #emit(value) {
    for (const listener of this.listeners) listener(value);
  }

  #onPosition(position) {
    const fix = {
      lat: position.coords.latitude, lon: position.coords.longitude,
      accuracy_m: Math.round(position.coords.accuracy * 10) / 10,
      fixed_at: new Date(position.timestamp || Date.now()).toISOString(), source: "gps",
    };
    const current = this.current();
    if (!current || fix.accuracy_m <= current.accuracy_m
        || Date.parse(fix.fixed_at) - Date.parse(current.fixed_at) > 30000) {
      this.best = fix;
    }
    if (fix.accuracy_m <= GOOD_ACCURACY_M) attachLateFix(fix);
    this.#emit({ fix: this.best });
  }
}

export function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

// Pickers leave the type empty for HEIC on some phones: look at the bytes.
export function sniffType(bytes, declared) {
  const head = new Uint8Array(bytes.slice(0, 16));
  const ascii = String.fromCharCode(...head);
  if (head[0] === 0xff && head[1] === 0xd8) return "image/jpeg";
  if (ascii.startsWith("\x89PNG")) return "image/png";
  if (ascii.startsWith("RIFF") && ascii.slice(8, 12) === "WEBP") return "image/webp";
  if (ascii.slice(4, 8) === "ftyp") {
    return /ftyp(heic|heix|hevc|heim|heis)/.test(ascii) ? "image/heic" : "image/heif";
  }
  return declared || "application/octet-stream";
}

// Save first, preview later: "saved on this phone" must not wait for image decoding.
export async function capturePhoto(file, context) {
  const bytes = await file.arrayBuffer();
  const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes));
  const contentType = sniffType(bytes, file.type);
  const fix = context.fix;
  const photo = {
    id: uuid(), caseId: context.caseId, visitClientId: context.visitClientId || null,
    sha256, size: bytes.byteLength, contentType, capturedAt: new Date().toISOString(),
    geo: fix || null, awaitingFix: !fix, photographer: context.photographer,
    place: context.place || "", caption: context.caption || "", fileName: file.name,
    ...(context.meterPhoto ? { meterPhoto: true } : {}),
    ...(context.revisitClientId ? { revisitClientId: context.revisitClientId } : {}),
  };
  await savePhoto(photo, new Blob([bytes], { type: contentType }));
  return photo;
}

// Downscaled preview: iOS refuses canvases over ~16.7 MP, so never draw full size.
export async function makePreview(id, blob, maxEdge = 480) {
  try {
    const bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
    const scale = Math.min(1, maxEdge / Math.max(bitmap.width, bitmap.height));
    const canvas = new OffscreenCanvas(Math.round(bitmap.width * scale),
      Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const preview = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.7 });
    await (await db()).put("previews", preview, id);
    return preview;
  } catch {
    return null; // a format the browser cannot draw (HEIC on Chromium): no preview
  }
}

// Object URLs for the previews of photos still on the phone: each screen keeps one set,
// replaced on every redraw and revoked when the screen closes.
export class PreviewUrls {
  #urls = new Set();

  // id -> object URL, or null where the browser could not draw a preview.
  async load(items) {
    this.revoke();
    const database = await db();
    const urls = new Map();
    for (const item of items) {
      const preview = await database.get("previews", item.id);
      const url = preview ? URL.createObjectURL(preview) : null;
      if (url) this.#urls.add(url);
      urls.set(item.id, url);
    }
    return urls;
  }

  revoke() {
    for (const url of this.#urls) URL.revokeObjectURL(url);
    this.#urls.clear();
  }
}

// ---- interview recordings ---------------------------------------------------------------
// The container type alone, as the evidence intake wants it ("audio/webm;codecs=opus" ->
// "audio/webm"): the server verifies the container by content.
export function baseType(mime) {
  return String(mime || "").split(";")[0].trim().toLowerCase();
}

// What the recorder produced, from its first bytes (browsers differ in what they report).
export function sniffAudio(bytes, declared) {
  const head = new Uint8Array(bytes.slice(0, 12));
  const ascii = String.fromCharCode(...head);
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return "audio/webm";
  if (ascii.startsWith("OggS")) return "audio/ogg";
  if (ascii.slice(4, 8) === "ftyp") return "audio/mp4";
  if (ascii.startsWith("ID3") || (head[0] === 0xff && (head[1] & 0xe0) === 0xe0)) return "audio/mpeg";
  return baseType(declared) || "application/octet-stream";
}

// MediaRecorder, in the first type the browser offers that the server takes: MP4 only
// with AAC (Chromium records Opus in MP4, which the intake refuses), else WebM or Ogg with
// Opus; plain "audio/mp4" last, for Safaris that name no codec (they record AAC).
const RECORDING_TYPES = ["audio/mp4;codecs=mp4a.40.2", "audio/webm;codecs=opus",
  "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];

export class AudioRecorder {
  static supported() {
    return typeof MediaRecorder !== "undefined" && Boolean(navigator.mediaDevices?.getUserMedia);
  }

  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const type = RECORDING_TYPES.find((x) => MediaRecorder.isTypeSupported?.(x));
    this.recorder = new MediaRecorder(this.stream, type ? { mimeType: type } : {});
    this.chunks = [];
    this.recorder.ondataavailable = (event) => {
      if (event.data?.size) this.chunks.push(event.data);
    };
    this.startedAt = Date.now();
    this.recorder.start(1000);
  }

  // {blob, mimeType, durationS}, or null when nothing was recorded.
  stop() {
    return new Promise((resolve) => {
      if (!this.recorder || this.recorder.state === "inactive") {
        this.#release();
        resolve(null);
        return;
      }
      this.recorder.onstop = () => {
        const mimeType = baseType(this.recorder.mimeType || this.chunks[0]?.type);
        const durationS = Math.round((Date.now() - this.startedAt) / 100) / 10;
        this.#release();
        resolve(this.chunks.length
          ? { blob: new Blob(this.chunks, { type: mimeType }), mimeType, durationS } : null);
      };
      this.recorder.stop();
    });
  }

  cancel() {
    try { this.recorder?.stop(); } catch { /* already stopped */ }
    this.#release();
  }

  #release() {
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
  }
}

// A recording goes through the same outbox and intake as photos, linked to its respondent
// by client id (sent once the respondent is, with the respondent's server id).
export async function captureAudio(recording, context) {
  const bytes = await recording.blob.arrayBuffer();
  const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes));
  const contentType = sniffAudio(bytes, recording.mimeType);
  const ext = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a", "audio/mpeg": "mp3" };
  const item = {
    id: uuid(), caseId: context.caseId, respondentClientId: context.respondentClientId,
    revisitClientId: context.revisitClientId || null, media: "audio",
    sha256, size: bytes.byteLength, contentType, capturedAt: new Date().toISOString(),
    geo: context.fix || null, awaitingFix: false, durationS: recording.durationS,
    photographer: context.photographer, place: context.place || "", caption: context.caption || "",
    fileName: `interview.${ext[contentType] || "bin"}`,
  };
  await savePhoto(item, new Blob([bytes], { type: contentType }));
  return item;
}
