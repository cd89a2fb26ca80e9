// The app's controller: who I am, my rooms, the live connection, and the
// handling of every server event. Views read from here and call its methods;
// they are told to redraw through `onChange`.

import type { AttachmentInfo } from "./attachments";
import { api, ApiError } from "./api";
import { lang } from "./i18n";
import { Frame, Live, LiveState, OpError } from "./live";
import { Held, Person, RoomInfo, RoomState } from "./model";
import { Notifications } from "./notifications";
import { disablePush } from "./push";
import type { MoodSummary } from "./views/mood";

export interface Child {
  id: string;
  name: string;
  class: string;
}

/** A person as the server shows them to me: a parent comes with their
 * children for teachers and staff (families share surnames). */
export interface Card extends Person {
  children?: Child[];
}

export interface Me {
  person: Person;
  children?: Child[]; // a parent's own
  login: string;
  is_admin: boolean;
  school: { id: string; name: string };
  rooms: RoomInfo[];
}

export class App {
  me: Me | null = null;
  // The mood of the day as it concerns me (GET /api/mood): a young pupil's own
  // picks (the simpler home screen), the boards I see, my children's.
  mood: MoodSummary | null = null;
  rooms = new Map<string, RoomState>();
  // My notifications and the badge's unread count (docs/protocol.md, "Notifications").
  notifications = new Notifications(() => this.changed());
  connection: LiveState = "closed";
  alerts: { room: string; words: string[] }[] = [];
  // From the server's hello: how many people a call seats, and whether it
  // has a video server (SFU) for the "large class" mode.
  calls: { people: number; sfu: boolean } = { people: 0, sfu: true };
  private live: Live | null = null;
  private listeners = new Set<() => void>();
  private callListeners = new Set<(frame: Frame) => void>();
  private eventListeners = new Map<string, Set<(frame: Frame) => void>>();
  private redrawQueued = false;
  private cards = new Map<string, Card | null>();
  private asked = new Set<string>();

  constructor(private readonly onSessionEnded: () => void) {}

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Coalesce redraws: a replay of many messages redraws once. */
  changed(): void {
    if (this.redrawQueued) return;
    this.redrawQueued = true;
    queueMicrotask(() => {
      this.redrawQueued = false;
      for (const listener of [...this.listeners]) listener();
    });
  }

  /** A person's card, asked once per page (who is whose parent does not
   * change while one reads): undefined until it comes (the app redraws
   * then), null when out of reach. */
  cardOf(id: string): Card | null | undefined {
    if (this.cards.has(id)) return this.cards.get(id);
    if (!this.asked.has(id)) {
      this.asked.add(id);
      api<Card>("GET", `/api/people/${encodeURIComponent(id)}`)
        .catch(() => null)
        .then((card) => {
          this.cards.set(id, card);
          this.changed();
        });
    }
    return undefined;
  }

  get isModeratorProfile(): boolean {
    const profile = this.me?.person.profile;
    return profile === "teacher" || profile === "staff" || Boolean(this.me?.is_admin);
  }

  /** Load who I am; false when there is no session. */
  async load(): Promise<boolean> {
    try {
      this.me = await api<Me>("GET", "/api/me");
    } catch (error) {
      if (error instanceof ApiError && error.code === "unauthenticated") return false;
      throw error;
    }
    for (const info of this.me.rooms) this.addRoom(info);
    await this.loadMood();
    this.startLive();
    this.changed();
    return true;
  }

  /** A pupil of a kindergarten or primary class: the simpler screen. */
  get young(): boolean {
    return Boolean(this.mood?.self);
  }

  async loadMood(): Promise<void> {
    // Until the charter is accepted every call but the charter's is refused.
    if ((this.me as { charter_required?: boolean } | null)?.charter_required) return;
    this.mood = await api<MoodSummary>("GET", "/api/mood").catch(() => null);
  }

  addRoom(info: RoomInfo): RoomState {
    let state = this.rooms.get(info.id);
    if (!state) {
      state = new RoomState(info, this.me?.person.id ?? "");
      this.rooms.set(info.id, state);
      if (this.live?.state === "open") void this.subscribe(state);
    } else {
      state.refresh(info);
    }
    return state;
  }

  /** I looked at the room: move my read marker (the server keeps it). */
  markRead(room: RoomState): void {
    const seq = room.markRead();
    if (seq !== null && room.subscribed) {
      this.request("chat.read", { room: room.info.id, seq }).catch(() => undefined);
    }
  }

  /** "J'ai lu": acknowledge an announcement. */
  async acknowledge(room: RoomState, seq: number): Promise<void> {
    await this.request("chat.ack", { room: room.info.id, seq });
    const entry = room.timeline.get(seq);
    if (entry) entry.acked = true;
    this.changed();
  }

  /** Add or remove one of my reactions to a message (idempotent on the server). */
  async react(room: RoomState, seq: number, name: string, on: boolean): Promise<void> {
    const reply = await this.request(on ? "chat.react" : "chat.unreact", { room: room.info.id, seq, reaction: name });
    room.applyReactions({ seq, ...reply.reactions });
    this.changed();
  }

  async refreshRooms(): Promise<void> {
    const { rooms } = await api<{ rooms: RoomInfo[] }>("GET", "/api/rooms");
    for (const info of rooms) this.addRoom(info);
    // Class and parents' rooms follow from the directory: one the server no
    // longer lists (a pupil moved to another class) goes from the list.
    const listed = new Set(rooms.map((info) => info.id));
    for (const [id, room] of this.rooms) {
      if (!listed.has(id) && (room.info.kind === "class" || room.info.kind === "parents")) this.rooms.delete(id);
    }
    this.changed();
  }

  /** Log out; true when the page is leaving for the identity provider's logout. */
  async logout(): Promise<boolean> {
    this.live?.stop();
    // A shared computer: the next person is not told of this one's messages.
    await disablePush().catch(() => undefined);
    let ssoLogout: string | undefined;
    try {
      ({ sso_logout: ssoLogout } = await api<{ sso_logout?: string }>("POST", "/api/auth/logout"));
    } finally {
      this.reset();
    }
    // A session opened through single sign-on: end the provider's session
    // too, so the next person on a shared computer is not signed in as this one.
    if (!ssoLogout) return false;
    window.location.assign(ssoLogout);
    return true;
  }

  reset(): void {
    this.live?.stop();
    this.live = null;
    this.me = null;
    this.mood = null;
    this.rooms.clear();
    this.notifications = new Notifications(() => this.changed());
    this.listeners.clear();
  }

  request(op: string, params: Frame = {}): Promise<Frame> {
    if (!this.live) return Promise.reject(new OpError({ code: "unavailable", message: "offline" }));
    return this.live.request(op, params);
  }

  /** For tests and the "reconnect" check: drop the socket as a network would. */
  dropConnection(): void {
    this.live?.drop();
  }

  private startLive(): void {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // ?lang=: error messages in the app's language (a socket sends no chosen header).
    this.live = new Live(`${scheme}://${location.host}/ws?lang=${lang()}`, {
      onHello: async (hello: Frame) => {
        const limits = hello.limits ?? {};
        if (typeof limits.call_people === "number") {
          this.calls = { people: limits.call_people, sfu: Boolean(limits.sfu) };
        }
        // Resume every room from the last seq we saw: the server replays what
        // we missed in order, and seq-keyed timelines drop any duplicate.
        // What was told while the socket was away is in the store.
        void this.notifications.load().catch(() => undefined);
        await Promise.all([...this.rooms.values()].map((room) => this.subscribe(room)));
        // Messages whose reply the drop swallowed go again with the same txn:
        // the server posts each txn once, so this never duplicates.
        for (const room of this.rooms.values()) {
          for (const out of [...room.outgoing.values()]) {
            if (out.status === "retrying" || (out.status === "failed" && out.error?.code === "unavailable")) {
              void this.send(room, out.body, out.ack ?? false, out.txn);
            }
          }
        }
      },
      onEvent: (frame) => this.handle(frame),
      onState: (state) => {
        this.connection = state;
        if (state !== "open") for (const room of this.rooms.values()) room.subscribed = false;
        this.changed();
      },
      onEnded: () => {
        this.reset();
        this.onSessionEnded();
      },
      sessionAlive: async () => {
        try {
          await api("GET", "/api/me");
          return true;
        } catch (error) {
          return !(error instanceof ApiError && error.code === "unauthenticated");
        }
      },
    });
    this.live.start();
  }

  async subscribe(room: RoomState): Promise<void> {
    try {
      const reply = await this.request("room.subscribe", { room: room.info.id, since: room.lastSeq });
      room.subscribed = true;
      room.error = null;
      room.role = reply.role;
      room.policy = reply.policy;
      room.mutedUntil = reply.muted_until ?? null;
      room.online = new Map((reply.online as Person[]).map((p) => [p.id, p.name]));
      if (reply.truncated) {
        // Too much missed for a replay: start the visible history again.
        room.timeline.clear();
        room.historyLoaded = false;
        room.historyComplete = false;
      }
      room.info.head = reply.head;
      await this.loadHeld(room);
      await this.loadScheduled(room);
      await this.loadMyAcks(room);
      if (room.info.kind === "private") await this.loadReceipts(room);
    } catch (error) {
      room.subscribed = false;
      room.error = error instanceof OpError ? error.code : "unavailable";
    }
    this.changed();
  }

  async loadHistory(room: RoomState, older = false): Promise<void> {
    const params = new URLSearchParams({ limit: "50" });
    if (older && room.timeline.size) params.set("before", String(Math.min(...room.timeline.keys())));
    const { messages } = await api<{ messages: Frame[] }>(
      "GET", `/api/rooms/${encodeURIComponent(room.info.id)}/messages?${params}`,
    );
    // Tombstones and messages first, then redactions (which refer to them).
    for (const frame of messages.filter((f) => f.ev !== "chat.redaction")) room.apply(frame);
    for (const frame of messages.filter((f) => f.ev === "chat.redaction")) room.apply(frame);
    room.historyLoaded = true;
    if (messages.length < 50 || messages.some((f) => f.seq === 1)) room.historyComplete = true;
    this.changed();
  }

  async loadHeld(room: RoomState): Promise<void> {
    const reply = await this.request("held.list", { room: room.info.id });
    const mine = this.me?.person.id;
    for (const held of reply.held as Held[]) {
      if (room.role === "moderator" && held.status === "pending") room.held.set(held.id, held);
      if (held.sender.id === mine) {
        room.outgoing.set(held.txn, {
          txn: held.txn, body: held.body, ts: held.ts,
          status: held.status === "rejected" ? "rejected" : "pending",
          heldId: held.id, reason: held.reason ?? undefined,
        });
      }
    }
    this.changed();
  }

  async loadScheduled(room: RoomState): Promise<void> {
    const reply = await this.request("scheduled.list", { room: room.info.id });
    const mine = this.me?.person.id;
    for (const waiting of reply.scheduled as Frame[]) {
      if (waiting.sender?.id !== mine || room.outgoing.has(waiting.txn)) continue;
      room.outgoing.set(waiting.txn, {
        txn: waiting.txn, body: waiting.body, ts: waiting.ts, status: "scheduled",
        deliverAt: waiting.deliver_at, ack: Boolean(waiting.ack), scheduledId: waiting.id,
      });
    }
  }

  async loadReceipts(room: RoomState): Promise<void> {
    const reply = await this.request("chat.receipts", { room: room.info.id });
    for (const person of reply.people as (Person & { seq: number })[]) {
      if (person.id === this.me?.person.id) continue;
      room.readBy.set(person.id, { name: person.name, seq: person.seq });
    }
  }

  /** The announcements I acknowledged earlier: "Lu ✓" survives a reload. */
  async loadMyAcks(room: RoomState): Promise<void> {
    const reply = await this.request("chat.my_acks", { room: room.info.id });
    room.myAcks = new Set(reply.seqs as number[]);
  }

  async send(room: RoomState, body: string, ack = false, txn: string = newTxn(), attachments?: AttachmentInfo[]): Promise<void> {
    const ts = room.outgoing.get(txn)?.ts ?? Date.now();
    // A retry of the same txn sends the same files.
    const files = attachments ?? room.outgoing.get(txn)?.attachments ?? [];
    room.outgoing.set(txn, { txn, body, ts, status: "sending", ack, ...(files.length ? { attachments: files } : {}) });
    this.changed();
    try {
      const reply = await this.request("chat.send", {
        room: room.info.id, txn, body, ...(ack ? { ack } : {}),
        ...(files.length ? { attachments: files.map((f) => f.id) } : {}),
      });
      const out = room.outgoing.get(txn);
      if (reply.held && out) {
        out.status = "pending";
        out.heldId = reply.id;
      } else if (reply.scheduled && out) {
        out.status = "scheduled";
        out.deliverAt = reply.deliver_at;
        out.scheduledId = reply.id;
      } else if (!reply.held && out && room.timeline.has(reply.seq)) {
        room.outgoing.delete(txn);
      }
    } catch (error) {
      const out = room.outgoing.get(txn);
      const err = error instanceof OpError ? error.error : { code: "unavailable", message: "" };
      if (out && err.code === "unavailable") {
        // A passing outage (the server's store or broker restarting, a node
        // shutting down) or a lost socket: the same txn goes again by itself,
        // after retry_after while the socket is open, else once it is back
        // (onHello). The server posts each txn once: never a duplicate.
        out.status = "retrying";
        out.error = err;
        if (this.live?.state === "open") {
          const delayMs = Math.min(10, Math.max(0.05, err.retry_after ?? 1)) * 1000;
          window.setTimeout(() => {
            const still = room.outgoing.get(txn);
            if (still?.status === "retrying" && this.live?.state === "open") {
              void this.send(room, still.body, still.ack ?? false, txn);
            }
          }, delayMs);
        }
      } else if (out) {
        out.status = "failed";
        out.error = err;
      }
    }
    this.changed();
  }

  /** Listen to one kind of event (e.g. document.changed); returns the unsubscribe. */
  on(name: string, listener: (frame: Frame) => void): () => void {
    let listeners = this.eventListeners.get(name);
    if (!listeners) this.eventListeners.set(name, (listeners = new Set()));
    listeners.add(listener);
    return () => { listeners?.delete(listener); };
  }

  onCallEvent(listener: (frame: Frame) => void): () => void {
    this.callListeners.add(listener);
    return () => this.callListeners.delete(listener);
  }

  private handle(frame: Frame): void {
    const listeners = typeof frame.ev === "string" ? this.eventListeners.get(frame.ev) : undefined;
    for (const listener of [...(listeners ?? [])]) listener(frame);
    if (typeof frame.ev === "string" && (frame.ev.startsWith("call.") || frame.ev.startsWith("sfu."))) {
      for (const listener of [...this.callListeners]) listener(frame);
      return;
    }
    if (this.notifications.handle(frame)) return;
    const room = typeof frame.room === "string" ? this.rooms.get(frame.room) : undefined;
    switch (frame.ev) {
      case "chat.message":
      case "chat.redaction":
        if (room) {
          room.apply(frame);
          if (frame.sender?.id) room.typing.delete(frame.sender.id);
        }
        break;
      case "attachment.state":
        // A file scanned at last (ready), or refused and gone: every room showing it.
        for (const shown of this.rooms.values()) shown.applyAttachmentState(String(frame.id), String(frame.state));
        break;
      case "chat.edited":
        // Its author edited it (on any node): the highest revision wins.
        room?.applyEdit({ seq: Number(frame.seq), body: String(frame.body), edited: Number(frame.edited), rev: Number(frame.rev) });
        break;
      case "chat.redaction_reason": {
        // Only the removed message's author and the moderators get this.
        const target = room?.timeline.get(Number(frame.redacts));
        if (target && typeof frame.reason === "string") target.reason = frame.reason;
        break;
      }
      case "chat.held":
        if (room?.role === "moderator") room.held.set(frame.id, frame as unknown as Held);
        if (room && frame.sender?.id === this.me?.person.id && room.outgoing.has(frame.txn)) {
          const out = room.outgoing.get(frame.txn)!;
          out.status = "pending";
          out.heldId = frame.id;
        }
        break;
      case "chat.scheduled":
        if (room && frame.sender?.id === this.me?.person.id && room.outgoing.has(frame.txn)) {
          const out = room.outgoing.get(frame.txn)!;
          out.status = "scheduled";
          out.deliverAt = frame.deliver_at;
          out.scheduledId = frame.id;
        }
        break;
      case "chat.unscheduled":
        // Cancelled by its author (maybe on another device).
        if (room && typeof frame.txn === "string") room.outgoing.delete(frame.txn);
        break;
      case "chat.read":
        if (room && frame.person?.id !== this.me?.person.id) {
          room.readBy.set(frame.person.id, { name: frame.person.name, seq: frame.seq });
        }
        break;
      case "mood.level": // a class was marked or unmarked: what I see changes
        void this.loadMood().then(() => this.changed());
        break;
      case "mood.changed":
        if (this.mood?.self && frame.person?.id === this.me?.person.id) {
          this.mood.self.entry = { day: frame.day, mood: frame.mood, night: frame.night, breakfast: frame.breakfast, at: frame.at };
        }
        for (const child of this.mood?.children ?? []) {
          if (child.person.id === frame.person?.id) {
            child.entry = { day: frame.day, mood: frame.mood, night: frame.night, breakfast: frame.breakfast, at: frame.at };
          }
        }
        break;
      case "chat.reactions":
        room?.applyReactions(frame as unknown as { seq: number; rev: number; counts: Record<string, number>; mine?: string[] });
        break;
      case "chat.acked":
        if (room) room.ackEvents += 1; // a view showing who read an announcement refreshes
        break;
      case "chat.approved":
        room?.held.delete(frame.id);
        break;
      case "chat.rejected":
        if (room) {
          room.held.delete(frame.id);
          for (const out of room.outgoing.values()) {
            if (out.heldId === frame.id) {
              out.status = "rejected";
              out.reason = frame.reason ?? undefined;
            }
          }
        }
        break;
      case "chat.typing":
        room?.typing.set(frame.person.id, { name: frame.person.name, until: Date.now() + 5000 });
        window.setTimeout(() => this.changed(), 5100);
        break;
      // One person (`person`) or several arriving or leaving together (`people`).
      case "presence.join":
        for (const p of frame.people ?? [frame.person]) room?.online.set(p.id, p.name);
        break;
      case "presence.leave":
        for (const p of frame.people ?? [frame.person]) room?.online.delete(p.id);
        break;
      case "room.policy":
        if (room) room.policy = frame.policy;
        break;
      case "member.muted":
        if (room && personId(frame.person) === this.me?.person.id) room.mutedUntil = frame.until;
        break;
      case "member.unmuted":
        if (room && personId(frame.person) === this.me?.person.id) room.mutedUntil = null;
        break;
      case "room.revoked":
        if (room) {
          room.subscribed = false;
          room.error = "revoked";
        }
        break;
      case "report.resolved":
        room?.reportOutcomes.push({ seq: frame.seq, outcome: frame.outcome });
        break;
      case "moderation.alert":
        this.alerts.push({ room: frame.room, words: frame.words ?? [] });
        break;
      case "conversation.closed":
        // A relation this conversation needed ended: it is read-only now.
        if (room) room.info.closed = true;
        break;
      case "conversation.opened":
        // Someone opened a conversation with me: list it (with its counts) now.
        this.refreshRooms().catch(() => undefined);
        break;
      default:
        break; // events for features this client does not show (yet)
    }
    this.changed();
  }
}

/** A random message id; getRandomValues works outside secure contexts too. */
function newTxn(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Events name a person by id or as {id, name}: accept both. */
function personId(person: unknown): string | undefined {
  if (typeof person === "string") return person;
  if (person && typeof person === "object" && "id" in person) return String(person.id);
  return undefined;
}
