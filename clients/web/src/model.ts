// What the app knows: the person, their rooms, and per room its timeline,
// presence, typing, own pending messages and (for moderators) the held queue.
// Timelines are keyed by seq, so a replay after a reconnect never duplicates.

export interface Person {
  id: string;
  name: string;
  profile: "pupil" | "teacher" | "parent" | "staff" | string;
}

export interface RoomInfo {
  id: string;
  name: string;
  kind: "class" | "parents" | "private" | string;
  head: number;
  class_id?: string | null;
  people?: string[] | null;
}

export interface Policy {
  mode: "open" | "announcement" | "read_only";
  premoderation: "off" | "pupils" | "everyone";
  slow_mode_s: number;
  recall_window_s: number;
}

export interface Entry {
  seq: number;
  id: string;
  ts: number;
  sender: { id: string; name: string };
  body?: string;
  txn?: string;
  redacted?: boolean;
}

export interface Held {
  id: string;
  room: string;
  sender: { id: string; name: string };
  body: string;
  txn: string;
  ts: number;
  status: "pending" | "approved" | "rejected";
  reason?: string | null;
}

/** One of my own messages that is not (yet) in the timeline. */
export interface Outgoing {
  txn: string;
  body: string;
  ts: number;
  status: "sending" | "pending" | "rejected" | "failed";
  heldId?: string;
  reason?: string;
  error?: { code: string; message: string; retry_after?: number; until?: number };
}

export class RoomState {
  timeline = new Map<number, Entry>();
  lastSeq = 0; // the highest seq seen: resume from here
  readSeq = 0; // what I have seen on screen
  subscribed = false;
  error: string | null = null; // e.g. forbidden after room.revoked
  online = new Map<string, string>();
  typing = new Map<string, { name: string; until: number }>();
  role: "moderator" | "member" | "reader" = "member";
  policy: Policy | null = null;
  mutedUntil: number | null = null;
  outgoing = new Map<string, Outgoing>();
  held = new Map<string, Held>(); // moderators: the queue
  historyLoaded = false;
  historyComplete = false;

  /** `discovered`: the room appeared while the app was running (a new
   * conversation), so everything in it is unread; a room first seen at login
   * on a new device starts as read rather than flooding the badge. */
  constructor(public info: RoomInfo, discovered = false) {
    this.lastSeq = info.head;
    const saved = localStorage.getItem(`preau.read.${info.id}`);
    this.readSeq = saved !== null && Number.isFinite(Number(saved)) ? Number(saved) : discovered ? 0 : info.head;
  }

  get unread(): number {
    let count = 0;
    for (const entry of this.timeline.values()) {
      if (entry.seq > this.readSeq && !entry.redacted && entry.body !== undefined) count++;
    }
    // Messages before what we hold in memory: estimate from the head.
    const oldest = this.timeline.size ? Math.min(...this.timeline.keys()) : this.lastSeq + 1;
    if (this.readSeq < oldest - 1) count += oldest - 1 - this.readSeq;
    return count;
  }

  markRead(): void {
    if (this.readSeq >= this.lastSeq) return;
    this.readSeq = this.lastSeq;
    localStorage.setItem(`preau.read.${this.info.id}`, String(this.readSeq));
  }

  /** Add a timeline entry (message, tombstone or redaction); true if new. */
  apply(frame: Record<string, any>): boolean { // eslint-disable-line @typescript-eslint/no-explicit-any
    const seq = Number(frame.seq);
    if (!Number.isInteger(seq) || seq <= 0) return false;
    this.lastSeq = Math.max(this.lastSeq, seq);
    if (frame.ev === "chat.redaction") {
      const target = this.timeline.get(Number(frame.redacts));
      if (target) {
        target.redacted = true;
        delete target.body;
      }
      return false;
    }
    if (this.timeline.has(seq)) return false;
    this.timeline.set(seq, {
      seq,
      id: frame.id,
      ts: frame.ts,
      sender: frame.sender,
      body: frame.redacted ? undefined : frame.body,
      txn: frame.redacted ? undefined : frame.txn,
      redacted: Boolean(frame.redacted),
    });
    if (frame.txn) this.outgoing.delete(frame.txn);
    return true;
  }

  sorted(): Entry[] {
    return [...this.timeline.values()].sort((a, b) => a.seq - b.seq);
  }
}
