// A room: history with "older" paging, live messages, typing, my pending
// (held) messages, report/delete/recall, reactions, and for moderators the
// held queue, the room's rules and its members.

import { api } from "../api";
import type { App } from "../app";
import { clear, formatDateTime, formatTime, h, Keyed, patch } from "../dom";
import { errorText, lang, t } from "../i18n";
import { matching, mentions, roomNames, typedMention } from "../mentions";
import { REACTIONS, type Entry, type Outgoing, type RoomInfo, type RoomState } from "../model";
import type { View } from "../router";
import { askText, describeError, hoursPicker, personContext, statusLine } from "../ui";
import { attachmentsBlock, composer } from "./attachments";

interface MemberRow {
  id: string;
  name: string;
  profile: string;
  role: "moderator" | "member";
  removed: boolean;
  muted_until?: number | null;
}

export function roomView(app: App, roomId: string, go: (path: string) => void): View {
  const status = statusLine();
  const title = h("h1", { id: "room-title" }, "…");
  const context = h("p", { class: "room-context muted" });
  const onlineEl = h("p", { class: "online" });
  const notices = h("div", { class: "notices" });
  const list = h("ol", { class: "messages" });
  const older = h("div", { class: "older" });
  const timeline = h("div", {
    class: "timeline", role: "log", "aria-live": "polite", "aria-labelledby": "room-title", tabindex: 0,
  }, older, list);
  const typing = h("p", { class: "typing", "aria-live": "polite" });
  const input = h("textarea", {
    id: "compose", rows: 2, maxlength: 4000, placeholder: t("room.compose"), "aria-label": t("room.compose"),
  });
  const sendButton = h("button", { type: "submit" }, t("room.send"));
  const askAck = h("input", { id: "ask-ack", type: "checkbox" });
  const ackOption = h("div", { class: "ack-option", hidden: true },
    askAck, h("label", { for: "ask-ack" }, t("room.ackAsk")));
  // Files: the attach (and, on a phone, camera) buttons, their tray, drop and paste.
  const files = composer(() => update(), (text, kind) => status.say(text, kind));
  // "@" and the start of a name: the room's people to mention (mentions.ts).
  const mentionList = h("ul", { id: "mention-list", class: "mention-list", role: "listbox", hidden: true, "aria-label": t("room.mentionList") });
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", "mention-list");
  const compose = h("form", { class: "compose" },
    files.list,
    h("div", { class: "compose-row" }, files.buttons, input, sendButton), mentionList, ackOption);
  const callsEl = h("section", { class: "calls", hidden: true, "aria-label": t("call.section") });
  // Search in the room's history (server side, under the circle of trust).
  const searchToggle = h("button", { type: "button", class: "secondary", "aria-expanded": "false", "aria-controls": "room-search" }, t("search.open"));
  const searchInput = h("input", { id: "search-q", type: "search", maxlength: 100, autocomplete: "off" });
  const searchResults = h("ol", { class: "search-results" });
  const searchStatus = h("p", { class: "muted", "aria-live": "polite" });
  const searchForm: HTMLFormElement = h("form", {
    id: "room-search", class: "room-search", role: "search", hidden: true,
    onsubmit: (event: Event) => { event.preventDefault(); void runSearch(); },
  },
    h("div", { class: "compose-row" },
      h("div", { class: "field" }, h("label", { for: "search-q" }, t("search.label")), searchInput),
      h("button", { type: "submit" }, t("search.go"))),
    searchStatus, searchResults);
  const modToggle = h("button", { type: "button", class: "secondary", "aria-expanded": "false", "aria-controls": "moderation", hidden: true }, t("room.moderation"));
  const modPanel = h("aside", { id: "moderation", class: "moderation", hidden: true, "aria-label": t("room.moderation") });
  const el = h("section", { class: "room-view" },
    h("div", { class: "room-main" },
      h("header", { class: "room-head" },
        h("a", { href: "/", "data-link": true, class: "back" }, h("span", { "aria-hidden": "true" }, "← "), h("span", { class: "back-text" }, t("room.back"))),
        title, searchToggle, modToggle,
      ),
      searchForm,
      context, onlineEl, notices, status.el, callsEl, timeline, typing, compose,
    ),
    modPanel,
  );

  let room: RoomState | undefined = app.rooms.get(roomId);
  let denied: string | null = null;
  let lastTyping = 0;
  let muteTimer = 0;
  let members: MemberRow[] | null = null;
  let modOpen = false;
  // Announcements whose "who has read it" list is open: seq → last answer.
  const ackLists = new Map<number, { acknowledged: { person: { name: string } }[]; pending: { name: string }[] } | null>();
  let ackEventsSeen = 0;

  // Messages whose "who reacted" list is open (their author, moderators): seq → answer.
  const reactorLists = new Map<number, Record<string, { name: string }[]> | null>();
  const reactorRevs = new Map<number, number>(); // the revision each open list was read at

  async function loadReactors(r: RoomState, seq: number): Promise<void> {
    reactorRevs.set(seq, r.timeline.get(seq)?.reactions?.rev ?? 0);
    try {
      const reply = await app.request("chat.reactors", { room: r.info.id, seq });
      reactorLists.set(seq, reply.reactions);
    } catch (error) {
      reactorLists.delete(seq);
      status.say(describeError(error), "error");
    }
    update();
  }

  /** The reaction bar under a message: a toggle per reaction (aria-pressed:
   * mine), its count; read-only rooms and closed conversations show counts only. */
  function reactionBar(r: RoomState, entry: Entry, mine: boolean): HTMLElement {
    const counts = entry.reactions?.counts ?? {};
    const own = new Set(entry.reactions?.mine ?? []);
    const canReact = !r.info.closed && r.policy?.mode !== "read_only";
    const items: HTMLElement[] = [];
    for (const { name, emoji } of REACTIONS) {
      const n = counts[name] ?? 0;
      const label = t(`reaction.${name}` as "reaction.like");
      if (!canReact) {
        if (n) items.push(h("span", { class: "reaction", title: label }, h("span", { "aria-hidden": "true" }, emoji), " ", String(n), h("span", { class: "visually-hidden" }, ` ${label}`)));
        continue;
      }
      const pressed = own.has(name);
      items.push(h("button", {
        type: "button", class: `reaction${pressed ? " pressed" : ""}`, "aria-pressed": String(pressed),
        "aria-label": t("reaction.button", { label, n }), title: label,
        onclick: () => app.react(r, entry.seq, name, !pressed).catch((error) => status.say(describeError(error), "error")),
      }, h("span", { "aria-hidden": "true" }, emoji), n ? h("span", { class: "count", "aria-hidden": "true" }, String(n)) : null));
    }
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if ((mine || r.role === "moderator") && total) {
      items.push(h("button", {
        type: "button", class: "link", "aria-expanded": String(reactorLists.has(entry.seq)),
        onclick: () => {
          if (reactorLists.has(entry.seq)) {
            reactorLists.delete(entry.seq);
            reactorRevs.delete(entry.seq);
            update();
          } else {
            reactorLists.set(entry.seq, null);
            void loadReactors(r, entry.seq);
          }
        },
      }, t("reaction.who")));
    }
    const bar = h("div", { class: "reactions", role: "group", "aria-label": t("reaction.bar") }, items);
    const list = reactorLists.get(entry.seq);
    if (!list) return bar;
    return h("div", null, bar, h("ul", { class: "reactor-list" },
      REACTIONS.filter(({ name }) => list[name]?.length).map(({ name, emoji }) =>
        h("li", null, h("span", { "aria-hidden": "true" }, emoji), " ",
          `${t(`reaction.${name}` as "reaction.like")}${t("colon")}${list[name].map((p) => p.name).join(", ")}`))));
  }

  async function loadAcks(r: RoomState, seq: number): Promise<void> {
    try {
      const reply = await app.request("chat.acks", { room: r.info.id, seq });
      ackLists.set(seq, { acknowledged: reply.acknowledged, pending: reply.pending });
    } catch (error) {
      status.say(describeError(error), "error");
    }
    update();
  }

  async function open(): Promise<void> {
    if (!room) {
      // Not in my list: a conversation someone just opened with me, or a room
      // I may not see. The server decides; we only add it once it agrees.
      try {
        await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/policy`);
        await app.refreshRooms();
        room = app.rooms.get(roomId);
      } catch (error) {
        denied = describeError(error);
      }
      if (!room) {
        denied = denied ?? errorText("not_found");
        update();
        return;
      }
    }
    if (!room.historyLoaded) {
      try {
        await app.loadHistory(room);
      } catch (error) {
        status.say(describeError(error), "error");
      }
    }
    timeline.scrollTop = timeline.scrollHeight;
    update();
    if (room.info.kind === "class") {
      await loadCalls();
      // call.started / call.closed come live; the slow poll only covers a lost event.
      stopCallEvents = app.onCallEvent((frame) => {
        if ((frame.ev === "call.started" || frame.ev === "call.closed") && frame.room === room?.info.id) {
          void loadCalls();
        }
      });
      callPoll = window.setInterval(() => void loadCalls(), 60000);
    }
  }

  let callPoll = 0;
  let stopCallEvents = (): void => undefined;
  let groupForm: HTMLElement | null = null;

  // The calls section: fetched on opening and on call events; drawn again
  // when what it depends on changes (my role is known only once the room's
  // subscription answers, which may come after the first fetch).
  type CallRow = { call: string; name: string; study_group: boolean; status: string };
  let calls: CallRow[] | null = null;
  let callsSig = "";
  let callsOpen: boolean | null = null; // the person's own choice, once made

  let callsLoading = false;
  let callsWanted = false; // a class room: its calls are shown

  async function loadCalls(): Promise<void> {
    if (!room || callsLoading) return;
    callsWanted = true;
    callsLoading = true;
    try {
      calls = (await app.request("call.list", { room: room.info.id })).calls;
    } catch {
      return; // not connected yet, or offline: asked again once it is (renderCalls)
    } finally {
      callsLoading = false;
    }
    callsSig = "";
    renderCalls();
  }

  function renderCalls(): void {
    if (callsWanted && calls === null && app.connection === "open") void loadCalls();
    if (!room || calls === null) return;
    const r = room;
    const sig = JSON.stringify([calls, r.role, groupForm !== null, app.calls, lang()]);
    if (sig === callsSig) return;
    callsSig = sig;
    clear(callsEl);
    callsEl.hidden = false;
    const open = calls.filter((c) => c.status === "open");
    // Folded to one line on a phone while no call is under way: the
    // conversation keeps the screen (the person may unfold it).
    const panel = h("details", {
      class: "calls-panel",
      open: callsOpen ?? (open.length > 0 || window.matchMedia("(min-width: 40rem)").matches),
      ontoggle: (event: Event) => { callsOpen = (event.currentTarget as HTMLDetailsElement).open; },
    }, h("summary", null, h("h2", null, t("call.section"),
      h("span", { class: "muted small" }, ` · ${open.length ? t("call.underWay", { n: open.length }) : t("call.none")}`))));
    callsEl.append(panel);
    if (open.length) {
      panel.append(h("ul", { class: "call-list" }, open.map((c) => h("li", null,
          h("a", { href: `/call/${encodeURIComponent(c.call)}?name=${encodeURIComponent(c.name)}`, "data-link": true, class: "button" },
            t("call.join", { name: c.name })),
          c.study_group ? h("span", { class: "muted" }, ` (${t("call.studyGroup")})`) : null))));
    }
    const actions = h("div", { class: "actions" });
    if (r.role === "moderator") {
      actions.append(h("button", { type: "button", class: "secondary", onclick: () => startCall(r, r.info.name) }, t("call.startClass")));
    }
    actions.append(h("button", { type: "button", class: "secondary", "aria-expanded": String(groupForm !== null), onclick: () => toggleGroupForm(r) }, t("call.startGroup")));
    panel.append(actions);
    if (r.role === "moderator" && !app.calls.sfu && app.calls.people) {
      panel.append(h("p", { class: "hint" }, t("call.noSfu", { n: app.calls.people })));
    }
    if (groupForm) panel.append(groupForm);
  }

  async function startCall(r: RoomState, name: string, people?: string[]): Promise<void> {
    try {
      const created = await app.request("call.create", { room: r.info.id, name, ...(people ? { people } : {}) });
      go(`/call/${encodeURIComponent(created.call)}?name=${encodeURIComponent(name)}`);
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  async function toggleGroupForm(r: RoomState): Promise<void> {
    if (groupForm) {
      groupForm = null;
      await loadCalls();
      return;
    }
    const { people } = await api<{ people: { id: string; name: string; profile: string }[] }>("GET", "/api/directory");
    const pupils = people.filter((p) => p.profile === "pupil");
    const nameInput = h("input", { id: "group-name", required: true, maxlength: 60 });
    const form: HTMLFormElement = h("form", {
      class: "group-form",
      onsubmit: (event: Event) => {
        event.preventDefault();
        const chosen = [...form.querySelectorAll<HTMLInputElement>("input[type=checkbox]:checked")].map((c) => c.value);
        if (chosen.length) void startCall(r, nameInput.value.trim(), chosen);
      },
    },
      h("div", { class: "field" }, h("label", { for: "group-name" }, t("call.groupName")), nameInput),
      h("fieldset", null, h("legend", null, t("call.groupWho")),
        pupils.map((p) => h("div", { class: "check" },
          h("input", { id: `g-${p.id}`, type: "checkbox", value: p.id }),
          h("label", { for: `g-${p.id}` }, p.name)))),
      h("button", { type: "submit" }, t("call.create")),
    );
    groupForm = form;
    await loadCalls();
    nameInput.focus();
  }

  function canRecall(entry: Entry): boolean {
    const window = (room?.policy?.recall_window_s ?? 0) * 1000;
    return entry.sender.id === app.me?.person.id && Date.now() - entry.ts < window;
  }

  function messageItem(entry: Entry): HTMLElement {
    const mine = entry.sender.id === app.me?.person.id;
    const actions: HTMLElement[] = [];
    const more: HTMLElement[] = []; // secondary: in the message's menu, not under every message
    if (!entry.redacted && room) {
      const r = room;
      if (!mine) {
        more.push(h("button", {
          type: "button", class: "link", "aria-label": `${t("room.report")} (${entry.sender.name})`,
          onclick: async () => {
            const reason = await askText(t("room.reportReason"));
            if (reason === null) return;
            try {
              await app.request("chat.report", { room: r.info.id, seq: entry.seq, ...(reason ? { reason } : {}) });
              status.say(t("room.reported"));
            } catch (error) {
              status.say(describeError(error), "error");
            }
          },
        }, t("room.report")));
      }
      if (mine && canRecall(entry) && entry.body !== undefined) {
        // Edit my own message within the recall window (the server checks it again).
        more.push(h("button", {
          type: "button", class: "link", "aria-label": `${t("room.edit")} (${entry.sender.name})`,
          onclick: async () => {
            const body = await askText(t("room.editLabel"), true, entry.body ?? "", 4000);
            if (body === null || !body || body === entry.body) return;
            try {
              const done = await app.request("chat.edit", { room: r.info.id, seq: entry.seq, body });
              r.applyEdit(done as { seq: number; body: string; edited: number; rev: number });
              update();
            } catch (error) {
              status.say(describeError(error), "error");
            }
          },
        }, t("room.edit")));
      }
      if (r.role === "moderator" || canRecall(entry)) {
        const label = r.role === "moderator" && !mine ? t("room.delete") : t("room.recall");
        more.push(h("button", {
          type: "button", class: "link danger", "aria-label": `${label} (${entry.sender.name})`,
          onclick: async () => {
            const reason = r.role === "moderator" && !mine ? await askText(t("room.deleteReason")) : "";
            if (reason === null) return;
            try {
              await app.request("chat.redact", { room: r.info.id, seq: entry.seq, ...(reason ? { reason } : {}) });
            } catch (error) {
              status.say(describeError(error), "error");
            }
          },
        }, label));
      }
    }
    let ackList: HTMLElement | null = null;
    if (entry.ack && !entry.redacted && room) {
      const r = room;
      if (mine || r.role === "moderator") {
        actions.unshift(h("button", {
          type: "button", class: "link", "aria-expanded": String(ackLists.has(entry.seq)),
          onclick: () => {
            if (ackLists.has(entry.seq)) {
              ackLists.delete(entry.seq);
              update();
            } else {
              ackLists.set(entry.seq, null);
              void loadAcks(r, entry.seq);
            }
          },
        }, t("room.ackWho")));
        const list = ackLists.get(entry.seq);
        if (list) {
          ackList = h("div", { class: "ack-list" },
            h("p", null, t("room.ackDone", { n: list.acknowledged.length,
              names: list.acknowledged.map((a) => a.person.name).join(", ") || "—" })),
            h("p", null, t("room.ackPending", { n: list.pending.length,
              names: list.pending.map((p) => p.name).join(", ") || "—" })),
          );
        }
      } else {
        actions.unshift(entry.acked || r.myAcks.has(entry.seq)
          ? h("span", { class: "acked" }, t("room.acked"))
          : h("button", {
              type: "button", class: "ack",
              onclick: () => app.acknowledge(r, entry.seq).catch((error) => status.say(describeError(error), "error")),
            }, t("room.ack")));
      }
    }
    const named = !mine && !entry.redacted && !!app.me && mentions(entry.body ?? "", app.me.person.name);
    return h("li", { class: `msg${mine ? " mine" : ""}${entry.redacted ? " redacted" : ""}${entry.ack ? " announcement" : ""}${named ? " mentions-me" : ""}`, "data-seq": entry.seq },
      h("div", { class: "meta" },
        h("strong", null, entry.sender.name), " ",
        h("time", { datetime: new Date(entry.ts).toISOString() }, formatTime(entry.ts, lang())),
        entry.ack ? h("span", { class: "tag" }, t("room.announcement")) : null,
        entry.edited && !entry.redacted ? h("span", { class: "edited muted", title: formatDateTime(entry.edited, lang()) }, ` (${t("room.edited")})`) : null,
      ),
      entry.redacted ? h("p", { class: "body muted" }, removedText(entry))
        : entry.body || !entry.attachments?.length ? h("p", { class: "body" }, linkified(entry.body ?? "")) : null,
      !entry.redacted && entry.attachments?.length ? attachmentsBlock(entry.attachments) : null,
      entry.redacted && entry.reason ? h("p", { class: "detail" }, t("room.deletedReason", { reason: entry.reason })) : null,
      actions.length ? h("div", { class: "actions" }, actions) : null,
      more.length ? h("details", { class: "msg-menu" },
        h("summary", { "aria-label": t("room.more", { name: entry.sender.name }), title: t("room.moreTitle") },
          h("span", { "aria-hidden": "true" }, "⋯")),
        h("div", { class: "actions" }, more)) : null,
      ackList,
      !entry.redacted && room ? reactionBar(room, entry, mine) : null,
    );
  }

  /** Cancel a message waiting for quiet hours, or send it now. */
  function sendsThroughQuietHours(r: RoomState): boolean {
    const profile = app.me?.person.profile;
    return profile === "teacher" || profile === "staff" || r.role === "moderator";
  }

  async function scheduledAction(op: "scheduled.cancel" | "scheduled.send_now", out: Outgoing): Promise<void> {
    if (!room || !out.scheduledId) return;
    const r = room;
    try {
      await app.request(op, { room: r.info.id, scheduled: out.scheduledId });
      if (op === "scheduled.cancel") {
        r.outgoing.delete(out.txn);
        status.say(t("room.scheduledCancelled"));
      }
      update();
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  function outgoingItem(out: Outgoing): HTMLElement {
    const label = {
      sending: t("room.sending"), retrying: t("room.retrying"), pending: t("room.pending"), rejected: t("room.rejected"), failed: t("room.failed"),
      scheduled: t("room.scheduled", { time: formatTime(out.deliverAt ?? out.ts, lang()) }),
    }[out.status];
    const slowed = out.error?.code === "rate_limited" && (room?.policy?.slow_mode_s ?? 0) > 0
      && room?.role !== "moderator";
    const detail = out.status === "failed" && out.error
      ? slowed ? t("error.slow", { n: Math.ceil(out.error.retry_after ?? 0) })
        : errorText(out.error.code, out.error.message, out.error)
      : out.status === "rejected" && out.reason ? out.reason : "";
    return h("li", { class: `msg mine ${out.status}`, "data-txn": out.txn },
      h("div", { class: "meta" }, h("strong", null, app.me?.person.name ?? ""), " ",
        h("span", { class: "state" }, label)),
      out.body ? h("p", { class: "body" }, out.body) : null,
      out.attachments?.length
        ? h("ul", { class: "attachments sending" }, out.attachments.map((f) => h("li", { class: "file-card" }, f.name)))
        : null,
      detail ? h("p", { class: "detail" }, detail) : null,
      out.status === "scheduled" && out.scheduledId && room
        ? h("div", { class: "actions" },
            // Only a teacher or staff sends their own through quiet hours
            // (or a moderator of the room); a pupil's or a parent's waits.
            sendsThroughQuietHours(room)
              ? h("button", {
                type: "button", class: "link",
                onclick: () => void scheduledAction("scheduled.send_now", out),
              }, t("room.sendNow"))
              : null,
            h("button", {
              type: "button", class: "link danger",
              onclick: () => void scheduledAction("scheduled.cancel", out),
            }, t("room.cancelScheduled")))
        : null,
      out.status === "failed" && room && retryable(out.error?.code)
        ? h("button", { type: "button", class: "link", onclick: () => room && app.send(room, out.body, out.ack ?? false, out.txn) }, t("room.retry"))
        : null,
      // Refused for what it says (filtered words, too long…): sending it
      // again can never work; the text goes back to the box to be changed.
      out.status === "failed" && room && !retryable(out.error?.code)
        ? h("button", {
            type: "button", class: "link",
            onclick: () => {
              if (!room) return;
              room.outgoing.delete(out.txn);
              if (!input.value.trim()) input.value = out.body;
              if (out.attachments?.length) files.tray.restore(out.attachments); // its files too
              update();
              input.focus();
            },
          }, t("room.editAgain"))
        : null,
    );
  }

  function renderNotices(r: RoomState): void {
    clear(notices);
    const say = (text: string) => notices.append(h("p", { class: "notice" }, text));
    const p = r.policy;
    if (r.mutedUntil && r.mutedUntil > Date.now()) {
      say(t("room.muted", { time: formatTime(r.mutedUntil, lang()) }));
    }
    if (r.info.closed) say(t("room.closed"));
    if (p && r.role !== "moderator") {
      if (p.mode !== "open") say(t("room.readonly"));
      const pupil = app.me?.person.profile === "pupil";
      if (p.premoderation === "everyone" || (p.premoderation === "pupils" && pupil)) say(t("room.premod"));
      if (p.slow_mode_s > 0) say(t("room.slow", { n: p.slow_mode_s }));
    }
    for (const done of r.reportOutcomes) {
      say(done.outcome === "deleted" ? t("room.reportDeleted") : t("room.reportKept"));
    }
    if (r.role === "moderator") {
      for (const alert of app.alerts.filter((a) => a.room === r.info.id)) {
        say(t("mod.alert", { words: alert.words.join(", ") }));
      }
    }
  }

  // The panel's parts persist across redraws: the policy form keeps what the
  // teacher is choosing, and lists are patched, so focus is not lost.
  const heldList = h("ul", { class: "held" });
  const heldEmpty = h("p", { class: "muted" }, t("mod.queueEmpty"));
  const policyHost = h("div", null);
  const releaseHost = h("div", { class: "release", "aria-live": "polite" });
  const memberList = h("ul", { class: "members" });
  let policySig = "";

  function renderModeration(r: RoomState): void {
    if (!modPanel.firstChild) {
      modPanel.append(h("h2", null, t("mod.queue")), heldEmpty, heldList, policyHost, releaseHost,
        h("h2", null, t("room.members")), memberList);
    }
    const queue = [...r.held.values()].sort((a, b) => a.ts - b.ts);
    heldEmpty.hidden = queue.length > 0;
    patch(heldList, queue.map((held) => ({
      key: held.id,
      sig: held.id,
      make: () => h("li", { class: "held-item", "data-held": held.id },
        h("div", { class: "meta" }, h("strong", null, held.sender.name), " ",
          h("time", null, formatTime(held.ts, lang()))),
        held.body ? h("p", { class: "body" }, held.body) : null,
        held.attachments?.length ? attachmentsBlock(held.attachments) : null,
        h("div", { class: "actions" },
          h("button", { type: "button", onclick: () => decide(r, held.id, true) }, t("mod.approve")),
          h("button", { type: "button", class: "secondary", onclick: () => decide(r, held.id, false) },
            t("mod.reject")),
        ),
      ),
    })));
    // Rebuilt only when the room's policy itself changed (here or elsewhere).
    const sig = JSON.stringify(r.policy);
    if (r.policy && sig !== policySig) {
      policySig = sig;
      clear(policyHost);
      policyHost.append(policyForm(r));
    }
    patch(memberList, (members ?? []).map((m) => ({
      key: m.id,
      sig: JSON.stringify([m, r.online.has(m.id), parentContext(m)]),
      make: () => memberItem(r, m),
    })));
  }

  async function decide(r: RoomState, held: string, approve: boolean): Promise<void> {
    let reason: string | null = "";
    if (!approve) {
      reason = await askText(t("mod.rejectReason"));
      if (reason === null) return;
    }
    try {
      await app.request(approve ? "held.approve" : "held.reject", {
        room: r.info.id, held, ...(reason ? { reason } : {}),
      });
      r.held.delete(held);
      update();
      // The queue comes 100 at a time (the oldest): once these are decided,
      // ask for the ones that may wait behind them.
      if (r.held.size === 0) await app.loadHeld(r);
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  function select(id: string, label: string, value: string, options: [string, string][]): HTMLElement {
    return h("div", { class: "field" },
      h("label", { for: id }, label),
      h("select", { id, name: id }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))),
    );
  }

  function policyForm(r: RoomState): HTMLElement {
    const p = r.policy!;
    const hours = p.quiet_hours !== undefined
      ? hoursPicker("room-quiet", t("mod.quiet"), p.quiet_hours, ["school", "off", "window"]) : null;
    const form = h("form", {
      class: "policy",
      oninput: status.clear,
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const data = new FormData(form);
        try {
          const reply = await app.request("room.policy", {
            room: r.info.id,
            mode: String(data.get("mode")),
            premoderation: String(data.get("premoderation")),
            slow_mode_s: Number(data.get("slow_mode_s")),
            ...(hours ? { quiet_hours: hours.value() } : {}),
          });
          const hoursChanged = hours !== null && reply.policy.quiet_hours !== p.quiet_hours;
          r.policy = reply.policy;
          status.say(t("mod.saved"));
          update();
          // New delivery hours: what already waits keeps its old time; offer to post it now.
          if (hoursChanged) await offerRelease(r);
        } catch (error) {
          status.say(describeError(error), "error");
        }
      },
    },
      h("h2", null, t("mod.policy")),
      select("mode", t("mod.mode"), p.mode, [
        ["open", t("mod.mode.open")], ["announcement", t("mod.mode.announcement")], ["read_only", t("mod.mode.read_only")],
      ]),
      select("premoderation", t("mod.premod"), p.premoderation, [
        ["off", t("mod.premod.off")], ["pupils", t("mod.premod.pupils")], ["everyone", t("mod.premod.everyone")],
      ]),
      h("div", { class: "field" },
        h("label", { for: "slow_mode_s" }, t("mod.slow")),
        h("input", { id: "slow_mode_s", name: "slow_mode_s", type: "number", min: 0, max: 3600, value: p.slow_mode_s }),
      ),
      hours ? hours.el : null,
      hours ? h("p", { class: "hint" }, t("mod.quietHelp")) : null,
      h("button", { type: "submit" }, t("mod.save")),
    );
    return form;
  }

  /** After the room's delivery hours changed: the messages still waiting,
   * with a button that posts them now (a moderator may). */
  async function offerRelease(r: RoomState): Promise<void> {
    try {
      const { scheduled } = await app.request("scheduled.list", { room: r.info.id });
      clear(releaseHost);
      if (!scheduled.length) return;
      releaseHost.append(h("p", { class: "notice" }, t("mod.releaseWaiting", { n: scheduled.length })),
        h("button", {
          type: "button",
          onclick: async () => {
            try {
              for (const waiting of scheduled as { id: string }[]) {
                await app.request("scheduled.send_now", { room: r.info.id, scheduled: waiting.id });
              }
              clear(releaseHost);
              status.say(t("mod.released"));
            } catch (error) {
              status.say(describeError(error), "error");
            }
          },
        }, t("mod.releaseNow")));
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  /** "parent de Léa Martin (6eA)" for a parent in the members list. */
  function parentContext(m: MemberRow): string {
    if (m.profile !== "parent") return "";
    const card = app.cardOf(m.id);
    return card?.children?.length ? personContext(card) : "";
  }

  function memberItem(r: RoomState, m: MemberRow): HTMLElement {
    const act = (op: string, extra: Record<string, unknown> = {}) => async () => {
      try {
        await app.request(op, { room: r.info.id, person: m.id, ...extra });
        await loadMembers(r);
      } catch (error) {
        status.say(describeError(error), "error");
      }
    };
    const state: string[] = [];
    if (m.role === "moderator") state.push(t("mod.moderator"));
    if (m.removed) state.push(t("mod.removed"));
    const muted = m.muted_until && m.muted_until > Date.now();
    if (muted) state.push(t("mod.mutedUntil", { time: formatTime(m.muted_until!, lang()) }));
    return h("li", { class: "member" },
      h("span", null, m.name, parentContext(m) ? h("span", { class: "muted small" }, ` · ${parentContext(m)}`) : null,
        r.online.has(m.id) ? h("span", { class: "dot", role: "img", "aria-label": t("room.online") }) : null),
      state.length ? h("span", { class: "muted" }, ` (${state.join(", ")})`) : null,
      m.role === "member"
        ? h("div", { class: "actions" },
            muted
              ? h("button", { type: "button", class: "link", onclick: act("member.unmute") }, t("mod.unmute"))
              : h("button", { type: "button", class: "link", onclick: act("member.mute", { duration_s: 600 }) }, t("mod.mute")),
            m.removed
              ? h("button", { type: "button", class: "link", onclick: act("member.readmit") }, t("mod.readmit"))
              : h("button", { type: "button", class: "link danger", onclick: act("member.remove") }, t("mod.remove")),
          )
        : null,
    );
  }

  async function loadMembers(r: RoomState): Promise<void> {
    try {
      const reply = await app.request("member.list", { room: r.info.id });
      members = reply.members as MemberRow[];
    } catch (error) {
      status.say(describeError(error), "error");
    }
    update();
  }

  searchToggle.addEventListener("click", () => {
    searchForm.hidden = !searchForm.hidden;
    searchToggle.setAttribute("aria-expanded", String(!searchForm.hidden));
    if (!searchForm.hidden) searchInput.focus();
  });

  async function runSearch(): Promise<void> {
    const words = searchInput.value.trim();
    if (!words || !room) return;
    const r = room;
    clear(searchResults);
    try {
      const { messages } = await api<{ messages: Entry[] }>(
        "GET", `/api/rooms/${encodeURIComponent(r.info.id)}/search?q=${encodeURIComponent(words)}`);
      searchStatus.textContent = messages.length ? t("search.found", { n: messages.length }) : t("search.none");
      for (const m of [...messages].reverse()) {
        searchResults.append(h("li", { class: "msg" },
          h("div", { class: "meta" }, h("strong", null, m.sender.name), " ",
            h("time", { datetime: new Date(m.ts).toISOString() }, formatDateTime(m.ts, lang()))),
          h("p", { class: "body" }, marked(m.body ?? "", words)),
          h("button", { type: "button", class: "link", onclick: () => void show(r, m.seq) }, t("search.show"))));
      }
    } catch (error) {
      searchStatus.textContent = describeError(error);
    }
  }

  /** Scroll the timeline to message `seq`, loading older pages until it is there. */
  async function show(r: RoomState, seq: number): Promise<void> {
    for (let i = 0; i < 40 && !r.timeline.has(seq) && !r.historyComplete; i++) {
      await app.loadHistory(r, true);
    }
    update();
    const item = list.querySelector<HTMLElement>(`[data-seq="${seq}"]`);
    if (!item) return;
    item.classList.add("found");
    item.setAttribute("tabindex", "-1");
    item.scrollIntoView({ block: "center" });
    item.focus({ preventScroll: true });
  }

  modToggle.addEventListener("click", () => {
    modOpen = !modOpen;
    modToggle.setAttribute("aria-expanded", String(modOpen));
    modPanel.hidden = !modOpen;
    if (modOpen && room) void loadMembers(room);
    update();
  });

  compose.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (files.tray.busy()) {
      status.say(t("attach.wait"), "error");
      return;
    }
    const attached = files.tray.accepted();
    if ((!body && !attached.length) || !room) return;
    input.value = "";
    lastTyping = 0;
    const ack = !ackOption.hidden && askAck.checked;
    askAck.checked = false;
    files.tray.sent();
    void app.send(room, body, ack, undefined, attached);
  });
  files.listen(el, input);
  let mentionChoices: string[] = [];
  let mentionActive = 0;
  function closeMentions(): void {
    mentionChoices = [];
    mentionList.hidden = true;
    input.removeAttribute("aria-activedescendant");
  }
  function showMentions(): void {
    const typed = room ? typedMention(input.value, input.selectionStart ?? input.value.length) : null;
    mentionChoices = typed && room ? matching(roomNames(room, app.me?.person.id), typed.query) : [];
    if (!mentionChoices.length) {
      closeMentions();
      return;
    }
    mentionActive = Math.min(mentionActive, mentionChoices.length - 1);
    clear(mentionList);
    mentionChoices.forEach((name, i) => mentionList.append(h("li", {
      id: `mention-${i}`, role: "option", "aria-selected": String(i === mentionActive),
      onmousedown: (event: Event) => { event.preventDefault(); chooseMention(i); },
    }, name)));
    mentionList.hidden = false;
    input.setAttribute("aria-activedescendant", `mention-${mentionActive}`);
  }
  function chooseMention(i: number): void {
    const caret = input.selectionStart ?? input.value.length;
    const typed = typedMention(input.value, caret);
    const name = mentionChoices[i];
    if (!typed || !name) return closeMentions();
    const inserted = `@${name} `;
    input.value = input.value.slice(0, typed.start) + inserted + input.value.slice(caret);
    const at = typed.start + inserted.length;
    input.setSelectionRange(at, at);
    mentionActive = 0;
    closeMentions();
    input.focus();
  }
  input.addEventListener("keydown", (event) => {
    if (!mentionList.hidden && mentionChoices.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const n = mentionChoices.length;
        mentionActive = (mentionActive + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
        showMentions();
        return;
      }
      if ((event.key === "Enter" || event.key === "Tab") && !event.isComposing) {
        event.preventDefault();
        chooseMention(mentionActive);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        closeMentions();
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      compose.requestSubmit();
    }
  });
  input.addEventListener("input", () => {
    mentionActive = 0;
    showMentions();
    // Typing is ephemeral and best effort: at most one notice every 3 s.
    if (!room?.subscribed || input.disabled || Date.now() - lastTyping < 3000 || !input.value) return;
    lastTyping = Date.now();
    app.request("chat.typing", { room: room.info.id }).catch(() => undefined);
  });

  function update(): void {
    if (denied || !room) {
      title.textContent = "…";
      clear(list);
      compose.hidden = true;
      if (denied) status.say(denied, "error");
      return;
    }
    const r = room;
    if (r.error === "revoked" || r.error === "forbidden") {
      status.say(t(r.error === "revoked" ? "room.revoked" : "room.forbidden"), "error");
      compose.hidden = true;
    } else {
      compose.hidden = false;
    }
    const name = roomTitle(r.info, app.me?.person.name);
    title.textContent = name;
    // A conversation with a parent, for a teacher: whose parent they are.
    const who = parentContexts(app, r.info);
    if (context.textContent !== who.join(" · ")) context.textContent = who.join(" · ");
    document.title = `${name} · Préau`;
    const others = [...r.online.entries()].filter(([id]) => id !== app.me?.person.id).map(([, n]) => n);
    onlineEl.textContent = others.length ? `${t("room.online")}${t("colon")}${others.join(", ")}` : "";
    renderNotices(r);
    const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
    clear(older);
    if (r.historyLoaded && !r.historyComplete) {
      older.append(h("button", {
        type: "button", class: "secondary",
        onclick: async () => {
          const before = timeline.scrollHeight;
          await app.loadHistory(r, true).catch((error) => status.say(describeError(error), "error"));
          timeline.scrollTop = timeline.scrollHeight - before;
        },
      }, t("room.older")));
    } else if (r.historyLoaded) {
      older.append(h("p", { class: "muted" }, r.timeline.size ? t("room.start") : t("room.empty")));
    }
    // Keyed redraw: an entry's <li> is rebuilt only when what it shows
    // changed, so a keyboard user's focus survives typing notices and new
    // messages (and long rooms stay cheap).
    const entries = r.sorted();
    const seen = new Map<number, string[]>();
    if (r.info.kind === "private") {
      // "Seen by" under my latest message each other person has read.
      const mine = entries.filter((e) => e.sender.id === app.me?.person.id && !e.redacted);
      for (const [id, reader] of r.readBy) {
        const last = mine.filter((e) => e.seq <= reader.seq).pop();
        const name = reader.name || (r.online.get(id) ?? "");
        if (last && name) seen.set(last.seq, [...(seen.get(last.seq) ?? []), name]);
      }
    }
    if (r.ackEvents !== ackEventsSeen) {
      ackEventsSeen = r.ackEvents;
      for (const seq of ackLists.keys()) void loadAcks(r, seq);
    }
    // An open "who reacted" list follows the counts (read again on a new revision).
    for (const [seq, rev] of reactorRevs) {
      const now = r.timeline.get(seq)?.reactions?.rev ?? 0;
      if (reactorLists.get(seq) && now !== rev) {
        reactorRevs.set(seq, now);
        void loadReactors(r, seq);
      }
    }
    const desired: Keyed[] = entries.map((entry) => ({
      key: `m${entry.seq}`,
      sig: JSON.stringify([entry.redacted, entry.removedBy, entry.reason, entry.body, entry.attachments ?? null, entry.acked || r.myAcks.has(entry.seq), ackLists.has(entry.seq),
        ackLists.get(entry.seq) ?? null, r.role, canRecall(entry), seen.get(entry.seq) ?? null, lang(),
        entry.reactions ?? null, reactorLists.get(entry.seq) ?? reactorLists.has(entry.seq), r.policy?.mode ?? null, r.info.closed ?? false]),
      make: () => {
        const li = messageItem(entry);
        const names = seen.get(entry.seq);
        if (names) li.append(h("p", { class: "seen" }, t("room.seenBy", { names: names.join(", ") })));
        return li;
      },
    }));
    for (const out of [...r.outgoing.values()].sort((a, b) => a.ts - b.ts)) {
      desired.push({
        key: `o${out.txn}`,
        sig: JSON.stringify([out.status, out.error ?? null, out.reason ?? null, out.deliverAt ?? null, lang()]),
        make: () => outgoingItem(out),
      });
    }
    patch(list, desired);
    const now = Date.now();
    const names = [...r.typing.values()].filter((x) => x.until > now).map((x) => x.name);
    typing.textContent = names.length ? t("room.typing", { names: names.join(", ") }) : "";
    const mutedUntil = r.role !== "moderator" && r.mutedUntil && r.mutedUntil > now ? r.mutedUntil : null;
    const writable = !r.info.closed && !mutedUntil
      && (r.role === "moderator" || r.policy?.mode === "open" || !r.policy);
    input.disabled = !writable;
    sendButton.disabled = !writable;
    files.setDisabled(!writable);
    // A muted member sees it in the box itself, before typing anything.
    const placeholder = mutedUntil
      ? t("room.mutedCompose", { time: formatTime(mutedUntil, lang()) }) : t("room.compose");
    if (input.placeholder !== placeholder) input.placeholder = placeholder;
    window.clearTimeout(muteTimer);
    if (mutedUntil) muteTimer = window.setTimeout(update, Math.min(mutedUntil - now + 50, 2 ** 31 - 1));
    modToggle.hidden = r.role !== "moderator";
    if (r.role === "moderator" && modOpen) renderModeration(r);
    renderCalls();
    if (atBottom) timeline.scrollTop = timeline.scrollHeight;
    const profile = app.me?.person.profile;
    ackOption.hidden = !(r.role === "moderator"
      || (r.info.kind === "private" && (profile === "teacher" || profile === "staff")));
    if (document.visibilityState === "visible") app.markRead(r);
  }

  void open();
  return {
    el, title: t("nav.home"), update,
    destroy: () => { window.clearInterval(callPoll); window.clearTimeout(muteTimer); stopCallEvents(); },
  };
}

// A web address in a message: http(s) only (never javascript: or data:),
// trailing punctuation left out.
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"]+/gi;

/** A message's text with its web addresses as links that open apart,
 * without giving the page a handle on Préau (noopener noreferrer). Text
 * nodes only: the text is never parsed as HTML. */
export function linkified(text: string): (string | HTMLElement)[] {
  const parts: (string | HTMLElement)[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    let url = match[0];
    const trail = /[.,;:!?)\]»'’]+$/.exec(url);
    if (trail) url = url.slice(0, -trail[0].length);
    const start = match.index ?? 0;
    let href: URL | null = null;
    try {
      href = new URL(url);
    } catch {
      href = null;
    }
    if (!href || (href.protocol !== "http:" && href.protocol !== "https:")) continue;
    parts.push(text.slice(last, start));
    parts.push(h("a", { href: href.href, target: "_blank", rel: "noopener noreferrer" }, url));
    last = start + url.length;
  }
  parts.push(text.slice(last));
  return parts.filter((p) => p !== "");
}

/** `text` with each case-insensitive occurrence of `words` in <mark>. */
function marked(text: string, words: string): (string | HTMLElement)[] {
  const parts: (string | HTMLElement)[] = [];
  const lower = text.toLocaleLowerCase();
  const needle = words.toLocaleLowerCase();
  let at = 0;
  for (let i = lower.indexOf(needle); needle && i >= 0; i = lower.indexOf(needle, i + needle.length)) {
    parts.push(text.slice(at, i), h("mark", null, text.slice(i, i + needle.length)));
    at = i + needle.length;
  }
  parts.push(text.slice(at));
  return parts.filter((p) => p !== "");
}

/** Whether sending the same message again may succeed: the refusals that
 * pass (a limit, an outage, a lost connection), not the ones about the
 * message itself or the sender's rights (filtered, too long, muted…). */
export function retryable(code: string | undefined): boolean {
  return code === undefined || ["rate_limited", "unavailable", "network", "internal", "not_subscribed"].includes(code);
}

/** A removed message's tombstone: recalled by its author or deleted by a moderator. */
export function removedText(entry: { removedBy?: "author" | "moderator" }): string {
  if (entry.removedBy === "author") return t("room.recalledByAuthor");
  if (entry.removedBy === "moderator") return t("room.deletedByModerator");
  return t("room.deleted");
}

/** A private conversation is named after its people: leave myself out. */
export function roomTitle(info: RoomInfo, me?: string): string {
  if (info.kind !== "private" || !me) return info.name;
  const others = info.name.split(", ").filter((name) => name !== me);
  return others.length ? others.join(", ") : info.name;
}

/** For a teacher or staff member, whose parent each parent of a private
 * conversation is: "parent de Léa Martin (6eA)" when the conversation's title
 * already is that parent's name, "Camille Martin, parent de Léa Martin (6eA)"
 * among several people (which parent is whose). */
export function parentContexts(app: App, info: RoomInfo): string[] {
  const profile = app.me?.person.profile;
  if (info.kind !== "private" || (profile !== "teacher" && profile !== "staff")) return [];
  const title = roomTitle(info, app.me?.person.name);
  return (info.people ?? []).filter((id) => id !== app.me?.person.id)
    .map((id) => app.cardOf(id))
    .filter((card) => card?.children?.length)
    .map((card) => (card!.name === title ? personContext(card!) : `${card!.name}, ${personContext(card!)}`));
}

