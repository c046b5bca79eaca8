// The hub's service worker: keeps the app shell so the app opens without a connection,
// and shows Web Push notifications (urgent and emergency alerts, breaches) while the app
// is closed. The API (/v1) is never cached here: live data comes from the socket, and
// what a user posts offline waits in the app's own outbox (IndexedDB), not in this worker.

const CACHE = 'hub-shell-v1';
// What the page loads besides its modules. The modules are found by following the imports
// from the entry point, so a new module needs no change here.
const SHELL = [
  '/',
  '/manifest.webmanifest',
  '/static/styles.css',
  '/static/icons/icon-192.png',
  '/static/icons/icon-512.png',
  '/static/icons/icon-maskable-512.png',
  '/static/icons/apple-touch-icon.png',
];
const ENTRY = '/static/app.js';
// The specifier of a static import or re-export at the start of a line (not in a comment).
const IMPORT = /^\s*(?:import|export)\s*(?:[^'";]*?\bfrom\s*)?['"]([^'"]+)['"]/gm;

/** Cache the entry module and every module it imports, directly or not. */
async function cacheModules(cache) {
  const seen = new Set();
  const queue = [new URL(ENTRY, self.location.origin).href];
  while (queue.length) {
    const url = queue.shift();
    if (seen.has(url)) continue;
    seen.add(url);
    const answer = await fetch(url, { cache: 'no-cache' });
    if (!answer.ok) throw new Error(`${url}: ${answer.status}`);
    const source = await answer.clone().text();
    await cache.put(url, answer);
    for (const [, specifier] of source.matchAll(IMPORT)) {
      const next = new URL(specifier, url);
      if (next.origin === self.location.origin) queue.push(next.href);
    }
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => Promise.all([cache.addAll(SHELL), cacheModules(cache)]))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('hub-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function isShell(url) {
  return url.origin === self.location.origin
    && (url.pathname === '/' || url.pathname === '/index.html' || url.pathname === '/manifest.webmanifest'
      || url.pathname.startsWith('/static/'));
}

// Network first (a new release shows at once), the cached shell when there is no network.
self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (!isShell(url)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const fresh = await fetch(request, { cache: 'no-cache' });
      if (fresh.ok) cache.put(request.mode === 'navigate' ? '/' : request, fresh.clone());
      return fresh;
    } catch (error) {
      const cached = await cache.match(request.mode === 'navigate' ? '/' : request, { ignoreSearch: true });
      if (cached) return cached;
      throw error;
    }
  })());
});

// -- Web Push -------------------------------------------------------------------------------
// The hub pushes {partnership, position, type, title, body}: the priority in the title,
// the venue and channel in the body, never a name or the alert's text. Each alert is one
// notification (its tag), which stays until it is dealt with, and vibrates the phone.

const VIBRATE = [300, 100, 300, 100, 600];

/** The notification a push asks for, from its payload (a push with no payload still shows). */
function notificationFor(message) {
  const title = (message && message.title) || 'Urgent alert';
  const where = message && message.partnership ? `${message.partnership}:${message.position}` : 'hub-alert';
  return {
    title,
    options: {
      body: (message && message.body) || 'Open the hub to see it.',
      tag: where,
      renotify: true,
      requireInteraction: true,
      vibrate: VIBRATE,
      icon: '/static/icons/icon-192.png',
      badge: '/static/icons/icon-192.png',
      data: { partnership: message?.partnership || null, position: message?.position || null },
    },
  };
}

self.addEventListener('push', (event) => {
  let message = null;
  try {
    message = event.data ? event.data.json() : null;
  } catch (error) {
    message = null;
  }
  const { title, options } = notificationFor(message);
  event.waitUntil(self.registration.showNotification(title, options));
});

// A tap opens the live feed at that alert: an open window of the app is focused and
// told where to go, else a new one is opened there.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const { partnership, position } = event.notification.data || {};
  const target = partnership ? `/#/live?partnership=${encodeURIComponent(partnership)}&position=${encodeURIComponent(position)}` : '/#/live';
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
    if (open) {
      await open.focus();
      open.postMessage({ op: 'open-alert', partnership, position });
      return open.navigate ? open.navigate(target).catch(() => open) : open;
    }
    return self.clients.openWindow(target);
  })());
});
