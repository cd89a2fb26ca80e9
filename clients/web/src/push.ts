// Web Push on this device (docs/protocol.md, "Notifications"): the browser
// subscribes with the deployment's VAPID key and hands the subscription to
// Préau (POST /api/push/devices); turning it off removes it on both sides.
// Logging out turns it off too, so that the next person on a shared
// computer is not told of the previous one's messages.

import { api } from "./api";

export type PushState = "unsupported" | "denied" | "off" | "on";

interface Device {
  id: string;
  endpoint: string;
}

export function pushSupported(): boolean {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** The app's service worker, once it is there (main.ts registers it). */
async function registration(): Promise<ServiceWorkerRegistration> {
  return navigator.serviceWorker.ready;
}

/** Its current subscription; null without a worker (never waits for one). */
async function currentSubscription(): Promise<PushSubscription | null> {
  const found = await navigator.serviceWorker.getRegistration();
  return found ? found.pushManager.getSubscription() : null;
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  const raw = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** A short name for this device, shown in the list of devices. */
function deviceLabel(): string {
  const agent = navigator.userAgent;
  const browser = /Edg\//.test(agent) ? "Edge" : /Firefox\//.test(agent) ? "Firefox"
    : /Chrom(e|ium)\//.test(agent) ? "Chrome" : /Safari\//.test(agent) ? "Safari" : "Navigateur";
  const system = /Android/.test(agent) ? "Android" : /iPhone|iPad/.test(agent) ? "iOS"
    : /Windows/.test(agent) ? "Windows" : /Mac OS X/.test(agent) ? "macOS"
      : /Linux/.test(agent) ? "Linux" : "";
  return system ? `${browser} · ${system}` : browser;
}

/** Is this device subscribed, for Préau too? */
export async function pushState(): Promise<PushState> {
  if (!pushSupported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  const subscription = await currentSubscription();
  if (subscription === null) return "off";
  const { devices } = await api<{ devices: Device[] }>("GET", "/api/push/devices");
  return devices.some((d) => d.endpoint === subscription.endpoint) ? "on" : "off";
}

/** Ask the browser's permission, subscribe, and tell Préau. */
export async function enablePush(): Promise<PushState> {
  if (!pushSupported()) return "unsupported";
  const permission = await Notification.requestPermission();
  if (permission !== "granted") return permission === "denied" ? "denied" : "off";
  const { public_key: key } = await api<{ public_key: string }>("GET", "/api/push/key");
  const manager = (await registration()).pushManager;
  let subscription = await manager.getSubscription();
  if (subscription !== null) {
    // Made with another key (a redeployed server): start again.
    const current = subscription.options.applicationServerKey;
    const wanted = keyBytes(key);
    const same = current !== null && current.byteLength === wanted.byteLength
      && new Uint8Array(current).every((b, i) => b === wanted[i]);
    if (!same) {
      await subscription.unsubscribe();
      subscription = null;
    }
  }
  subscription ??= await manager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  await api("POST", "/api/push/devices", { ...subscription.toJSON(), label: deviceLabel() });
  return "on";
}

/** Stop pushes to this device, at Préau and in the browser. */
export async function disablePush(): Promise<PushState> {
  if (!pushSupported()) return "unsupported";
  const subscription = await currentSubscription();
  if (subscription === null) return "off";
  const { devices } = await api<{ devices: Device[] }>("GET", "/api/push/devices");
  for (const device of devices) {
    if (device.endpoint === subscription.endpoint) {
      await api("DELETE", `/api/push/devices/${encodeURIComponent(device.id)}`);
    }
  }
  await subscription.unsubscribe();
  return "off";
}
