// What the app knows: the person, their rooms, and per room its timeline,
// presence, typing, own pending messages and (for moderators) the held queue.
// Timelines are keyed by seq, so a replay after a reconnect never duplicates.

import type { AttachmentInfo } from "./attachments";

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
  unread?: number; // from the server's read markers
  closed?: boolean; // a conversation closed when a relation it needed ended: read-only
}

export interface Policy {
  mode: "open" | "announcement" | "read_only";
  premoderation: "off" | "pupils" | "everyone";
  slow_mode_s: number;
  recall_window_s: number;
  quiet_hours?: string; // "school", "off" or "HH:MM-HH:MM"
}

export interface Entry {
  seq: number;
  id: string;
  ts: number;
  sender: { id: string; name: string };
  body?: string;
  txn?: string;
  redacted?: boolean;
  // Who removed it (a redaction's `by`): its author (recalled) or a moderator.
  removedBy?: "author" | "moderator";
  reason?: string; // why a moderator deleted it: only its author and moderators are told
  ack?: boolean; // an announcement: readers acknowledge it ("J'ai lu")
  acked?: boolean; // I acknowledged it (this session)
  reactions?: Reactions; // absent: none yet
  edited?: number; // edited by its author: when (its latest text is `body`)
  editRev?: number; // the server's edit revision (the highest wins)
  attachments?: AttachmentInfo[]; // its files (docs/protocol.md, "Attachments")
}

/** The fixed set of reactions (docs/protocol.md, "Reactions"), in display order. */
export const REACTIONS: { name: string; emoji: string }[] = [
  { name: "like", emoji: "👍" }, { name: "love", emoji: "❤️" }, { name: "laugh", emoji: "😂" },
  { name: "wow", emoji: "😮" }, { name: "sad", emoji: "😢" }, { name: "bravo", emoji: "👏" },
];

/** A message's reactions as I see them: counts per name, my own, and the
 * server's revision (the highest wins, whatever order events arrive in). */
export interface Reactions {
  rev: number;
  counts: Record<string, number>;
  mine: string[];
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
  attachments?: AttachmentInfo[]; // held with it: its author and the moderators see them
}

/** One of my own messages that is not (yet) in the timeline. */
export interface Outgoing {
  txn: string;
  body: string;
  ts: number;
  // retrying: the server answered unavailable (its store restarting) or the
  // socket dropped; the same txn goes again by itself ("Reconnexion…").
  status: "sending" | "retrying" | "pending" | "scheduled" | "rejected" | "failed";
  heldId?: string;
  deliverAt?: number; // quiet hours: when it will be posted
  scheduledId?: string; // quiet hours: the waiting message (cancel, send now)
  ack?: boolean;
  attachments?: AttachmentInfo[]; // the files going with it (their ids are sent)
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
  ackEvents = 0; // bumped by each chat.acked
  myAcks = new Set<number>(); // announcements I acknowledged (chat.my_acks)
  reportOutcomes: { seq: number; outcome: string }[] = []; // my reports, resolved
  readBy = new Map<string, { name: string; seq: number }>(); // private rooms: receipts
  historyLoaded = false;
  historyComplete = false;

  // The server's unread count (read markers) as of `baseSeq`; live
  // messages after it are counted here, until I read the room.
  private baseSeq = 0;

  constructor(public info: RoomInfo, private readonly me: string) {
    this.lastSeq = info.head;
    this.baseSeq = info.head;
  }

  /** New figures from /api/me or /api/rooms. */
  refresh(info: RoomInfo): void {
    this.info = { ...this.info, ...info };
    this.lastSeq = Math.max(this.lastSeq, info.head);
    this.baseSeq = info.head;
  }

  get unread(): number {
    const counted = (from: number) => [...this.timeline.values()].filter((e) =>
      e.seq > from && !e.redacted && e.body !== undefined && e.sender.id !== this.me).length;
    if (this.readSeq >= this.baseSeq) return counted(this.readSeq);
    return (this.info.unread ?? 0) + counted(this.baseSeq);
  }

  /** The seq to send as my read marker, or null when nothing is new. */
  markRead(): number | null {
    if (this.readSeq >= this.lastSeq || this.lastSeq === 0) return null;
    this.readSeq = this.lastSeq;
    return this.readSeq;
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
        if (frame.by?.id) target.removedBy = frame.by.id === target.sender.id ? "author" : "moderator";
        if (frame.reason) target.reason = String(frame.reason);
        delete target.reactions; // they go with the message
        delete target.edited;
        delete target.attachments;
      }
      return false;
    }
    if (this.timeline.has(seq)) {
      if (frame.reactions) this.applyReactions({ seq, ...frame.reactions });
      if (frame.edit_rev) this.applyEdit({ seq, body: frame.body, edited: frame.edited, rev: frame.edit_rev });
      return false;
    }
    this.timeline.set(seq, {
      seq,
      id: frame.id,
      ts: frame.ts,
      sender: frame.sender,
      body: frame.redacted ? undefined : frame.body,
      txn: frame.redacted ? undefined : frame.txn,
      redacted: Boolean(frame.redacted),
      ack: Boolean(frame.ack),
      reactions: frame.redacted ? undefined : frame.reactions,
      edited: frame.redacted || !frame.edited ? undefined : Number(frame.edited),
      editRev: frame.redacted || !frame.edit_rev ? undefined : Number(frame.edit_rev),
      attachments: frame.redacted || !Array.isArray(frame.attachments) ? undefined : frame.attachments,
    });
    if (frame.txn) this.outgoing.delete(frame.txn);
    return true;
  }

  /** A message's reactions (chat.reactions, a reply, a history page): kept
   * if their revision is not older than what I have; without `mine`, mine stay. */
  applyReactions(frame: { seq: number; rev: number; counts: Record<string, number>; mine?: string[] }): boolean {
    const entry = this.timeline.get(Number(frame.seq));
    if (!entry || entry.redacted) return false;
    const current = entry.reactions;
    if (current && frame.rev < current.rev) return false;
    if (current && frame.rev === current.rev && !frame.mine) return false;
    entry.reactions = { rev: frame.rev, counts: { ...frame.counts }, mine: frame.mine ?? current?.mine ?? [] };
    return true;
  }

  /** A message's new text (chat.edited, an edit's reply, a history page):
   * kept if its revision is newer than the one I have. */
  applyEdit(frame: { seq: number; body: string; edited: number; rev: number }): boolean {
    const entry = this.timeline.get(Number(frame.seq));
    if (!entry || entry.redacted || typeof frame.body !== "string") return false;
    if (frame.rev <= (entry.editRev ?? 0)) return false;
    entry.body = frame.body;
    entry.edited = Number(frame.edited);
    entry.editRev = Number(frame.rev);
    return true;
  }

  /** A file's new state (``attachment.state``: scanned clean, or refused and
   * gone); true if one of this room's messages shows it. */
  applyAttachmentState(id: string, state: string): boolean {
    let found = false;
    for (const entry of this.timeline.values()) {
      const files = entry.attachments;
      if (!files?.some((f) => f.id === id)) continue;
      found = true;
      entry.attachments = state === "ready" || state === "pending"
        ? files.map((f) => (f.id === id ? { ...f, state } : f))
        : files.filter((f) => f.id !== id);
    }
    return found;
  }

  sorted(): Entry[] {
    return [...this.timeline.values()].sort((a, b) => a.seq - b.seq);
  }
}
