// Home: my classes, parents' rooms and private conversations, with unread
// counts and who is online.

import { api } from "../api";
import type { App } from "../app";
import { clear, h, patch, type Keyed } from "../dom";
import { t } from "../i18n";
import type { RoomState } from "../model";
import type { View } from "../router";
import { deleteDocument, type DocumentMeta } from "./document";
import { moodCard } from "./mood";
import { parentContexts, roomTitle } from "./room";
import { childrenText, describeError, statusLine } from "../ui";

export function homeView(app: App, go: (path: string) => void): View {
  const status = statusLine();
  const body = h("div", { class: "home" });
  const el = h("section", { "aria-labelledby": "home-title" },
    h("h1", { id: "home-title" }, t("home.hello", { name: app.me?.person.name ?? "" })),
    h("p", { class: "school" }, app.me?.school.name ?? ""),
    app.me?.children?.length
      ? h("p", { class: "children" }, t("home.myChildren", { children: childrenText(app.me.children) }))
      : null,
    status.el,
    body,
  );

  /** One room: kept in place across live updates, its parts refreshed
   * (a presence or unread change must not replace the link being clicked). */
  function roomItem(room: RoomState): Keyed {
    const id = room.info.id;
    const href = `/room/${encodeURIComponent(id)}`;
    return {
      key: `room:${id}`, sig: "room", make: () => h("li", { class: "room-item" }),
      fill: (li) => {
        const unread = room.unread;
        const title = roomTitle(room.info, app.me?.person.name);
        const who = parentContexts(app, room.info);
        const online = [...room.online.entries()].filter(([id]) => id !== app.me?.person.id).map(([, name]) => name);
        const parts: Keyed[] = [{
          key: "link", sig: href,
          make: () => h("a", { href, "data-link": true, class: "room-link", "data-room": id }),
          fill: (link) => patch(link, [
            { key: "name", sig: JSON.stringify([title, who]),
              make: () => h("span", { class: "room-name" }, title,
                who.map((w) => h("span", { class: "context muted small" }, ` · ${w}`))) },
            ...(unread > 0 ? [{ key: "unread", sig: String(unread),
              make: () => h("span", { class: "badge", "aria-label": t("home.unread", { n: unread }) }, String(unread)) }] : []),
          ]),
        }];
        if (online.length) {
          parts.push({ key: "online", sig: JSON.stringify(online),
            make: () => h("p", { class: "online", title: online.join(", ") },
              h("span", { class: "dot", "aria-hidden": "true" }), t("home.online", { n: online.length }), " · ", online.slice(0, 4).join(", ")) });
        }
        for (const c of calls.get(id) ?? []) {
          parts.push({ key: `call:${c.call}`, sig: c.name,
            make: () => h("p", { class: "call-note" },
              h("a", { href: `/call/${encodeURIComponent(c.call)}?name=${encodeURIComponent(c.name)}`, "data-link": true },
                t("call.join", { name: c.name }))) });
        }
        patch(li, parts);
      },
    };
  }

  // Calls under way in my class rooms (no event announces one: asked on
  // arrival and every 15 s while the home page shows).
  const calls = new Map<string, { call: string; name: string }[]>();
  let early = 0;
  async function loadCalls(): Promise<void> {
    const classes = [...app.rooms.values()].filter((r) => r.info.kind === "class");
    // Right after login the socket is still subscribing: look again shortly.
    if (classes.some((r) => !r.subscribed) && early++ < 10) {
      window.setTimeout(() => void loadCalls(), 1000);
    }
    for (const room of classes) {
      if (!room.subscribed) continue;
      try {
        const reply = await app.request("call.list", { room: room.info.id });
        calls.set(room.info.id, (reply.calls as { call: string; name: string; status: string }[])
          .filter((c) => c.status === "open"));
      } catch {
        calls.delete(room.info.id);
      }
    }
    update();
  }
  let callPoll = 0;
  let stopCallEvents = (): void => undefined;

  /** A card of rooms, kept in place; its list and buttons refreshed. */
  function section(key: string, title: string, rooms: RoomState[], extra: Keyed[] = []): Keyed {
    return {
      key, sig: title, make: () => h("section", { class: "card" }),
      fill: (card) => patch(card, [
        { key: "title", sig: title, make: () => h("h2", null, title) },
        rooms.length
          ? { key: "list", sig: "list", make: () => h("ul", { class: "rooms" }),
              fill: (list) => patch(list, rooms.map(roomItem)) }
          : { key: "none", sig: "none", make: () => h("p", { class: "muted" }, t("home.none")) },
        ...extra,
      ]),
    };
  }

  function update(): void {
    const rooms = [...app.rooms.values()];
    const of = (kind: string) => rooms.filter((r) => r.info.kind === kind);
    const classes = of("class");
    const parents = of("parents");
    const conversations = of("private");
    const profile = app.me?.person.profile;
    // Teachers and staff open a class's parents' room when it does not exist yet.
    const openers: Keyed[] = [];
    if (profile === "teacher" || profile === "staff") {
      for (const room of classes) {
        const classId = room.info.class_id;
        if (!classId || parents.some((p) => p.info.class_id === classId)) continue;
        openers.push({ key: `open:${classId}`, sig: room.info.name, make: () => h("button", {
          class: "secondary",
          onclick: async () => {
            try {
              const reply = await api<{ room: { id: string } }>(
                "POST", `/api/classes/${encodeURIComponent(classId)}/parents-room`,
              );
              await app.refreshRooms();
              go(`/room/${encodeURIComponent(reply.room.id)}`);
            } catch (error) {
              status.say(describeError(error), "error");
            }
          },
        }, t("home.openParents", { name: room.info.name })) });
      }
    }
    if (profile === "staff" && !parents.some((p) => !p.info.class_id)) {
      openers.push({ key: "open:school", sig: "school", make: () => h("button", {
        class: "secondary",
        onclick: async () => {
          try {
            const school = encodeURIComponent(app.me?.school.id ?? "");
            const reply = await api<{ room: { id: string } }>("POST", `/api/schools/${school}/parents-room`);
            await app.refreshRooms();
            go(`/room/${encodeURIComponent(reply.room.id)}`);
          } catch (error) {
            status.say(describeError(error), "error");
          }
        },
      }, t("home.openSchoolParents")) });
    }
    const cards: Keyed[] = [];
    const mood = moodCard(app.mood);
    if (mood) cards.push({ key: "mood", sig: JSON.stringify(app.mood), make: () => mood });
    if (profile !== "parent") cards.push(section("classes", t("home.classes"), classes));
    if (parents.length || openers.length || profile === "parent") {
      cards.push(section("parents", t("home.parents"), parents, openers));
    }
    cards.push(section("conversations", t("home.conversations"), conversations, [
      { key: "new", sig: "new", make: () => h("a", { href: "/new", "data-link": true, class: "button" }, t("nav.new")) },
    ]));
    if (profile !== "parent") cards.push({ key: "docs", sig: "docs", make: () => docs });
    patch(body, cards);
  }

  // Documents: listed over REST (no live event for a new document).
  const docs = h("section", { class: "card" }, h("h2", null, t("docs.title")));
  async function loadDocuments(): Promise<void> {
    try {
      const { documents } = await api<{ documents: DocumentMeta[] }>("GET", "/api/documents");
      clear(docs);
      docs.append(h("h2", null, t("docs.title")));
      docs.append(documents.length
        ? h("ul", { class: "rooms" }, documents.map((d) => h("li", { class: "room-item doc-item" },
            h("a", { href: `/doc/${encodeURIComponent(d.id)}`, "data-link": true, class: "room-link" },
              h("span", { class: "room-name" }, d.title),
              h("span", { class: "muted small" }, [t(`docs.role.${d.role}` as "docs.role.reader"),
                d.locked ? t("docs.locked") : ""].filter(Boolean).join(" · ")),
            ),
            // Only its teachers may delete it (the server says so: role).
            d.role === "moderator"
              ? h("button", {
                  type: "button", class: "link danger", "aria-label": t("docs.deleteLabel", { title: d.title }),
                  onclick: async () => {
                    try {
                      if (!(await deleteDocument(d))) return;
                      status.say(t("docs.deleted", { title: d.title }));
                      await loadDocuments();
                    } catch (error) {
                      status.say(describeError(error), "error");
                    }
                  },
                }, t("docs.delete"))
              : null,
          )))
        : h("p", { class: "muted" }, t("docs.none")));
      if (app.me?.person.profile === "teacher") docs.append(newDocumentForm());
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  function newDocumentForm(): HTMLElement {
    const classes = [...app.rooms.values()].filter((r) => r.info.kind === "class" && r.info.class_id);
    const titleInput = h("input", { id: "doc-title", name: "title", required: true, maxlength: 200 });
    const classSelect = h("select", { id: "doc-class", name: "class" },
      classes.map((r) => h("option", { value: r.info.class_id! }, r.info.name)));
    const form = h("form", {
      class: "new-doc",
      onsubmit: async (event: Event) => {
        event.preventDefault();
        try {
          const created = await api<DocumentMeta>("POST", "/api/documents", {
            class: classSelect.value, title: titleInput.value.trim(),
          });
          go(`/doc/${encodeURIComponent(created.id)}`);
        } catch (error) {
          status.say(describeError(error), "error");
        }
      },
    },
      h("h3", null, t("docs.new")),
      h("div", { class: "field" }, h("label", { for: "doc-title" }, t("docs.newTitle")), titleInput),
      h("div", { class: "field" }, h("label", { for: "doc-class" }, t("docs.class")), classSelect),
      h("button", { type: "submit" }, t("docs.create")),
    );
    return form;
  }

  const parentProfile = app.me?.person.profile === "parent";
  update();
  let stopDocEvents = (): void => undefined;
  if (!parentProfile) {
    void loadDocuments();
    // A document's rights changed or it was deleted: the list follows.
    stopDocEvents = app.on("document.changed", () => void loadDocuments());
    void loadCalls();
    // call.started / call.closed come live; the slow poll only covers a lost event.
    stopCallEvents = app.onCallEvent((frame) => {
      if (frame.ev === "call.started" || frame.ev === "call.closed") void loadCalls();
    });
    callPoll = window.setInterval(() => void loadCalls(), 60000);
  }
  return {
    el, title: t("nav.home"), update,
    destroy: () => { window.clearInterval(callPoll); stopCallEvents(); stopDocEvents(); },
  };
}
