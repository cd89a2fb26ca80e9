// The notification centre as the client keeps it: my notifications (GET
// /api/notifications), the unread count for the badge, and the live events
// that change them (`notification`, `notification.withdrawn`,
// `notification.read`: docs/protocol.md, "Notifications"). Reloaded from the
// server on every (re)connection: events lost while offline are in the store.

import { api } from "./api";
import type { Frame } from "./live";

export interface Notice {
  id: string;
  kind: string;
  at: number;
  read: boolean;
  by: { id: string; name: string } | null;
  seq: number | null;
  room: { id: string; name: string; kind: string } | null;
  data?: Record<string, unknown>;
}

interface Page {
  notifications: Notice[];
  unread: number;
  next: number | null;
}

export class Notifications {
  items: Notice[] = [];
  unread = 0;
  loaded = false;

  constructor(private readonly changed: () => void) {}

  async load(): Promise<void> {
    const page = await api<Page>("GET", "/api/notifications?limit=50");
    this.items = page.notifications;
    this.unread = page.unread;
    this.loaded = true;
    this.changed();
  }

  /** A live event; true when it was one of ours. */
  handle(frame: Frame): boolean {
    switch (frame.ev) {
      case "notification": {
        const notice = frame as unknown as Notice;
        if (this.items.some((n) => n.id === notice.id)) return true;
        this.items.unshift(notice);
        if (!notice.read) this.unread += 1;
        break;
      }
      case "notification.withdrawn": {
        const gone = new Set<string>(frame.ids ?? []);
        this.unread -= this.items.filter((n) => gone.has(n.id) && !n.read).length;
        this.items = this.items.filter((n) => !gone.has(n.id));
        break;
      }
      case "notification.read": {
        const read = new Set<string>(frame.ids ?? []);
        for (const n of this.items) {
          if (read.has(n.id) && !n.read) {
            n.read = true;
            this.unread -= 1;
          }
        }
        break;
      }
      default:
        return false;
    }
    this.unread = Math.max(0, this.unread);
    this.changed();
    return true;
  }

  /** Mark some read (the server tells my other devices), or all of them. */
  async markRead(ids: string[] | "all"): Promise<void> {
    const body = ids === "all" ? { all: true } : { ids };
    const done = await api<{ read: string[]; unread: number }>("POST", "/api/notifications/read", body);
    const read = new Set(done.read);
    for (const n of this.items) if (ids === "all" || read.has(n.id)) n.read = true;
    this.unread = done.unread;
    this.changed();
  }
}
