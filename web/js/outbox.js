// The offline outbox: every report, sighting, alert and acknowledgement a user posts is
// queued on the device first (IndexedDB, photos included) and sent from here, one at a
// time, oldest first, each with its own Idempotency-Key, so a retry after a lost answer
// never writes twice and nothing overtakes anything queued before it.

import { api, ApiError, NetworkError, session } from './api.js';
import { uuid } from './dom.js';

const DB_NAME = 'hub';
const STORE = 'outbox';
const RETRY_MS = [1000, 2000, 5000, 10000, 20000];

let dbPromise = null;

function db() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(STORE, { keyPath: 'seq', autoIncrement: true });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return dbPromise;
}

async function tx(mode, fn) {
  const database = await db();
  return new Promise((resolve, reject) => {
    const t = database.transaction(STORE, mode);
    const store = t.objectStore(STORE);
    let result;
    Promise.resolve(fn(store)).then((r) => { result = r; });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

function requestResult(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

const events = new EventTarget();
let items = []; // this user's items, oldest first (a copy of what is stored)
let flushing = false;
let again = false;
let retryTimer = null;
let failures = 0;
let paused = false; // signed out: wait for a new token
const sent = []; // recently sent, newest first: {label, at, answer}

export const outbox = {
  on(type, fn) { events.addEventListener(type, fn); },
  off(type, fn) { events.removeEventListener(type, fn); },

  /** Queued (or being sent, or refused) items of the signed-in user, oldest first. */
  get items() { return items; },
  get pending() { return items.filter((i) => i.status !== 'failed').length; },
  get sent() { return sent; },

  async load() {
    const all = await tx('readonly', (store) => requestResult(store.getAll()));
    items = (all || []).filter((i) => i.user === session.user).sort((a, b) => a.seq - b.seq);
    for (const item of items) if (item.status === 'sending') item.status = 'queued';
    changed();
    return items;
  },

  /**
   * Queue a request: {partnership, method, path, json | fields + files, label, kind}.
   * Answers the stored item; sending starts at once when the device is online.
   */
  async add(request) {
    const item = {
      ...request,
      method: request.method || 'POST',
      key: uuid(),
      user: session.user,
      created: new Date().toISOString(),
      status: 'queued',
      error: null,
    };
    item.seq = await tx('readwrite', (store) => requestResult(store.add(item)));
    items.push(item);
    changed();
    this.flush();
    return item;
  },

  async dismiss(seq) {
    await tx('readwrite', (store) => requestResult(store.delete(seq)));
    items = items.filter((i) => i.seq !== seq);
    changed();
  },

  resume() {
    paused = false;
    failures = 0;
    this.flush();
  },

  pause() { paused = true; },

  /** Send what is queued, in order, until done or the network fails. */
  async flush() {
    if (paused || !session.token) return;
    if (flushing) {
      again = true;
      return;
    }
    flushing = true;
    clearTimeout(retryTimer);
    try {
      do {
        again = false;
        if (navigator.locks && navigator.locks.request) {
          // One tab sends at a time; another tab's queue waits its turn.
          await navigator.locks.request('hub-outbox', () => drain());
        } else {
          await drain();
        }
      } while (again && !paused && !retryPending());
    } finally {
      flushing = false;
    }
  },
};

async function drain() {
  await outbox.load();
  for (;;) {
    const item = items.find((i) => i.status === 'queued');
    if (!item || paused) return;
    item.status = 'sending';
    changed();
    try {
      const answer = await send(item);
      await tx('readwrite', (store) => requestResult(store.delete(item.seq)));
      items = items.filter((i) => i.seq !== item.seq);
      failures = 0;
      sent.unshift({ label: item.label, kind: item.kind, at: new Date().toISOString(), answer });
      sent.length = Math.min(sent.length, 20);
      changed();
      events.dispatchEvent(new CustomEvent('sent', { detail: { item, answer } }));
    } catch (error) {
      if (error instanceof NetworkError || (error instanceof ApiError && retryable(error.status))) {
        item.status = 'queued';
        changed();
        if (error instanceof ApiError && error.status === 401) {
          paused = true;
          return;
        }
        failures += 1;
        const wait = RETRY_MS[Math.min(failures - 1, RETRY_MS.length - 1)];
        retryTimer = setTimeout(() => outbox.flush(), wait);
        return;
      }
      // Refused for good (a 4xx with a reason): keep it visible, let later items go.
      item.status = 'failed';
      item.error = error instanceof ApiError ? error.detail : String(error);
      await tx('readwrite', (store) => requestResult(store.put(item)));
      changed();
      events.dispatchEvent(new CustomEvent('failed', { detail: { item, error } }));
    }
  }
}

function retryPending() {
  return items.some((i) => i.status === 'queued') && failures > 0;
}

function retryable(status) {
  return status === 401 || status === 408 || status === 425 || status === 429 || status >= 500;
}

async function send(item) {
  if (item.fields || item.files) {
    const form = new FormData();
    for (const [k, v] of Object.entries(item.fields || {})) {
      if (v !== null && v !== undefined && v !== '') form.append(k, v);
    }
    for (const [k, file] of Object.entries(item.files || {})) {
      if (file) form.append(k, file, file.name || `${k}.jpg`);
    }
    return api(item.path, { method: item.method, form, key: item.key });
  }
  return api(item.path, { method: item.method, json: item.json, key: item.key });
}

function changed() {
  events.dispatchEvent(new CustomEvent('change', { detail: { items } }));
}

// Try again whenever the device says it is back.
window.addEventListener('online', () => { failures = 0; outbox.flush(); });

/** A photo made smaller (longest side 1600 px) and stripped of metadata before it waits. */
export async function shrink(file) {
  if (!file || !file.type || !file.type.startsWith('image/') || typeof createImageBitmap !== 'function') return file;
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close?.();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
    if (!blob) return file;
    return new File([blob], (file.name || 'still').replace(/\.\w+$/, '') + '.jpg', { type: 'image/jpeg' });
  } catch {
    return file;
  }
}
