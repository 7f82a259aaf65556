// IndexedDB: the phone's own copy of everything the inspector captured, and a cache.
import { openDB } from "../vendor/idb.js";

const NAME = "fieldcase";
const VERSION = 1;

let dbPromise = null;

export function db() {
  if (!dbPromise) {
    dbPromise = openDB(NAME, VERSION, {
      upgrade(database) {
        // outbox: visits and photos waiting to be sent (keyed by their client UUID).
        const outbox = database.createObjectStore("outbox", { keyPath: "id" });
        outbox.createIndex("createdAt", "createdAt");
        // blobs: the untouched photo bytes, apart from the small outbox records.
        database.createObjectStore("blobs");
        // previews: downscaled images for display.
        database.createObjectStore("previews");
        // sent: client UUID -> server id, so photos find their visit once it is sent.
        database.createObjectStore("sent", { keyPath: "id" });
        // cache: cases, case details, standards (for offline use).
        database.createObjectStore("cache");
        // meta: the logged-in user, CSRF token, settings.
        database.createObjectStore("meta");
      },
    });
  }
  return dbPromise;
}

export async function getMeta(key) {
  return (await db()).get("meta", key);
}

export async function setMeta(key, value) {
  return (await db()).put("meta", value, key);
}

export async function getCache(key) {
  return (await db()).get("cache", key);
}

export async function setCache(key, value) {
  return (await db()).put("cache", { value, at: new Date().toISOString() }, key);
}
