// Préau's service worker (built into dist/sw.js): it makes the app installable
// and, when the network is gone, shows a French offline page instead of the
// browser's error. It caches only that page and what it needs: messages,
// rooms and the app itself always come from the server (never stale).
const CACHE = "preau-shell-%VERSION%";
const SHELL = %SHELL%;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("preau-shell-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  if (request.mode === "navigate") {
    // Pages: the network, else the offline page.
    event.respondWith(fetch(request).catch(() => caches.match("/offline.html")));
    return;
  }
  const url = new URL(request.url);
  if (url.origin === self.location.origin && SHELL.includes(url.pathname)) {
    event.respondWith(fetch(request).catch(() => caches.match(url.pathname)));
  }
});

// Web Push (docs/protocol.md, "Notifications"): Préau sends who and where,
// never the message; the device shows it and opens the room when clicked.
// The text comes from the server in the person's language (French first).
const ICON = %ICON%;

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const title = typeof data.title === "string" && data.title ? data.title : "Préau";
  const body = typeof data.body === "string" && data.body ? data.body : "Du nouveau dans Préau";
  const url = typeof data.url === "string" && data.url.startsWith("/") ? data.url : "/";
  event.waitUntil(self.registration.showNotification(title, {
    body,
    lang: typeof data.lang === "string" ? data.lang : "fr",
    icon: ICON,
    badge: ICON,
    // One notification per Préau notification: a resend replaces it.
    tag: typeof data.tag === "string" ? data.tag : undefined,
    data: { url },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const path = event.notification.data && typeof event.notification.data.url === "string"
    ? event.notification.data.url : "/";
  const target = new URL(path.startsWith("/") ? path : "/", self.location.origin).href;
  event.waitUntil((async () => {
    // An open Préau window: brought forward and taken there; else a new one.
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) {
      if (new URL(client.url).origin !== self.location.origin) continue;
      const focused = await client.focus();
      await focused.navigate(target).catch(() => undefined);
      return;
    }
    await self.clients.openWindow(target);
  })());
});
