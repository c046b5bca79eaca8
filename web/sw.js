// The hub's service worker: keeps the app shell so the app opens without a connection.
// The API (/v1) is never cached here: live data comes from the socket, and what a user
// posts offline waits in the app's own outbox (IndexedDB), not in this worker.

const CACHE = 'hub-shell-v1';
const SHELL = [
  '/',
  '/manifest.webmanifest',
  '/static/styles.css',
  '/static/app.js',
  '/static/js/api.js',
  '/static/js/alarm.js',
  '/static/js/dom.js',
  '/static/js/live.js',
  '/static/js/outbox.js',
  '/static/js/views-admin.js',
  '/static/js/views-audit.js',
  '/static/js/views-coordinator.js',
  '/static/js/views-receiver.js',
  '/static/icons/icon-192.png',
  '/static/icons/icon-512.png',
  '/static/icons/icon-maskable-512.png',
  '/static/icons/apple-touch-icon.png',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
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
