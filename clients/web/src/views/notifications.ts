// The notification centre in the header: a button with the unread count (the
// badge) that opens a panel listing my notifications, newest first. Each one
// says who and where — never the message itself — and links to the room;
// following it marks it read. Escape closes the panel and gives the focus
// back to the button.

import { ApiError, api } from "../api";
import type { App } from "../app";
import { append, clear, formatDateTime, h, patch } from "../dom";
import { lang, t } from "../i18n";
import type { Notice } from "../notifications";
import { type PushState, disablePush, enablePush, pushState, pushSupported } from "../push";
import type { View } from "../router";
import { describeError, statusLine } from "../ui";

const KINDS = ["conversation", "message", "announcement", "mention", "held.approved", "held.rejected",
  "report.resolved", "scheduled.delivered", "call.started", "document.shared",
  "document.locked"] as const;

export function noticeText(n: Notice): string {
  const params = { name: n.by?.name ?? "", room: n.room?.name ?? "", title: String(n.data?.title ?? "") };
  // A private conversation's name is its people's: "de {name}" says it all.
  if (n.kind === "message" && n.room?.kind === "private") return t("notif.kind.privateMessage", params);
  const kind = (KINDS as readonly string[]).includes(n.kind) ? n.kind : "other";
  return t(`notif.kind.${kind}` as "notif.kind.other", params);
}

/** The header's button and the panel it opens (kept across header redraws). */
export class NotificationCentre {
  readonly button: HTMLButtonElement;
  readonly panel: HTMLElement;
  private open = false;

  constructor(private readonly app: App, private readonly go: (path: string) => void) {
    this.button = h("button", {
      type: "button", class: "secondary notif-button", "aria-expanded": "false",
      "aria-controls": "notifications-panel",
      onclick: () => this.toggle(),
    });
    this.panel = h("section", {
      id: "notifications-panel", class: "notif-panel card", hidden: true,
      "aria-labelledby": "notifications-title",
      onkeydown: (event: KeyboardEvent) => {
        if (event.key === "Escape") {
          this.toggle(false);
          this.button.focus();
        }
      },
    });
    this.update();
  }

  toggle(open = !this.open): void {
    this.open = open;
    this.update();
    if (open) this.panel.querySelector<HTMLElement>("h2")?.focus();
  }

  update(): void {
    const centre = this.app.notifications;
    const unread = centre.unread;
    const shown = unread > 99 ? "99+" : String(unread);
    // Redrawn only when what it shows changes, and in place: a live event
    // must not replace what is being clicked or has the focus.
    const buttonSig = `${lang()}:${shown}`;
    if (this.button.dataset.sig !== buttonSig) {
      this.button.dataset.sig = buttonSig;
      clear(this.button);
      // Its name is what it shows, "Notifications 3", with "non lues" for
      // screen readers: "Notifications 3 non lues".
      append(this.button, [
        t("notif.button"),
        unread > 0 ? [" ", h("span", { class: "badge" }, shown),
          h("span", { class: "visually-hidden" },
            " " + t(unread === 1 ? "notif.button.unreadOne" : "notif.button.unread"))] : null,
      ]);
    }
    this.button.setAttribute("aria-expanded", String(this.open));
    this.panel.hidden = !this.open;
    if (!this.open) return;
    const items = centre.items;
    patch(this.panel, [
      { key: "head", sig: `${lang()}:${unread === 0}`, make: () => h("div", { class: "notif-head" },
        h("h2", { id: "notifications-title", tabindex: -1 }, t("notif.title")),
        h("div", { class: "actions" },
          h("button", {
            type: "button", class: "secondary", disabled: unread === 0,
            onclick: () => void centre.markRead("all").catch(() => undefined),
          }, t("notif.markAll")),
          h("a", {
            href: "/notifications",
            onclick: (event: MouseEvent) => {
              event.preventDefault();
              this.toggle(false);
              this.go("/notifications");
            },
          }, t("notif.pref.link")),
        ),
      ) },
      items.length === 0
        ? { key: "none", sig: `${lang()}:${centre.loaded}`,
            make: () => h("p", { class: "muted" }, centre.loaded ? t("notif.none") : t("notif.loading")) }
        : { key: "list", sig: "list", make: () => h("ul", { class: "notif-list" }),
            fill: (list) => patch(list, items.map((n) => ({
              key: n.id, sig: JSON.stringify([lang(), n.read, n.kind, n.by, n.room, n.at, n.data]),
              make: () => this.item(n),
            }))) },
    ]);
  }

  private item(n: Notice): HTMLElement {
    const text = noticeText(n);
    const when = formatDateTime(n.at, lang());
    const document = typeof n.data?.document === "string" ? n.data.document : null;
    const target = n.room ? `/room/${encodeURIComponent(n.room.id)}`
      : document ? `/doc/${encodeURIComponent(document)}` : "/";
    return h("li", { class: n.read ? "notif read" : "notif unread", "data-kind": n.kind },
      h("a", {
        href: target,
        onclick: (event: MouseEvent) => {
          event.preventDefault();
          if (!n.read) void this.app.notifications.markRead([n.id]).catch(() => undefined);
          this.toggle(false);
          this.go(target);
        },
      }, n.read ? null : h("span", { class: "visually-hidden" }, t("notif.unread") + " "), text),
      h("span", { class: "notif-when muted" }, " ", h("time", { datetime: new Date(n.at).toISOString() }, when)),
    );
  }
}

interface KindPreference {
  kind: string;
  channel: string;
  chosen: string | null;
  default: string;
  forced: "on" | "off" | null;
}

/** "Mes notifications": how I am told of each kind (GET/PUT /api/notifications/preferences). */
export function preferencesView(): View {
  const status = statusLine();
  const list = h("div", { class: "prefs" }, h("p", { class: "muted" }, t("notif.loading")));
  const selects = new Map<string, HTMLSelectElement>();
  const show = (found: { channels: string[]; kinds: KindPreference[] }) => {
    clear(list);
    selects.clear();
    for (const pref of found.kinds) {
      const id = `pref-${pref.kind.replace(".", "-")}`;
      const options = [h("option", { value: "" },
        t("notif.pref.default", { channel: t(`notif.channel.${pref.default}` as "notif.channel.in_app") }))];
      for (const channel of found.channels) {
        if (channel === "never" && pref.forced === "on") continue;
        options.push(h("option", { value: channel, selected: pref.chosen === channel },
          t(`notif.channel.${channel}` as "notif.channel.in_app")));
      }
      const select = h("select", {
        id, disabled: pref.forced === "off",
        "aria-describedby": pref.forced ? `${id}-forced` : undefined,
      }, options);
      if (pref.chosen === null) select.value = "";
      selects.set(pref.kind, select);
      list.append(h("div", { class: "field" },
        h("label", { for: id }, t(`notif.pref.${pref.kind}` as "notif.pref.message")),
        select,
        pref.forced ? h("p", { id: `${id}-forced`, class: "hint" },
          t(pref.forced === "on" ? "notif.pref.forcedOn" : "notif.pref.forcedOff")) : null,
      ));
    }
  };
  const form = h("form", {
    class: "card",
    oninput: status.clear,
    onsubmit: async (event: Event) => {
      event.preventDefault();
      const channels: Record<string, string | null> = {};
      for (const [kind, select] of selects) if (!select.disabled) channels[kind] = select.value || null;
      try {
        show(await api("PUT", "/api/notifications/preferences", { channels }));
        status.say(t("settings.saved"));
      } catch (error) {
        status.say(describeError(error), "error");
      }
    },
  }, h("p", { class: "hint" }, t("notif.pref.intro")), list,
  h("button", { type: "submit" }, t("mod.save")), status.el);
  api<{ channels: string[]; kinds: KindPreference[] }>("GET", "/api/notifications/preferences")
    .then(show).catch((error) => status.say(describeError(error), "error"));
  return {
    el: h("section", null, h("h1", null, t("notif.pref.title")), deviceCard(), form),
    title: t("notif.pref.title"),
  };
}

/** "Sur cet appareil": Web Push on or off for this browser. */
function deviceCard(): HTMLElement {
  const status = statusLine();
  const said = h("p", { class: "push-state", "aria-live": "polite" }, t("notif.loading"));
  const button = h("button", { type: "button", class: "secondary", hidden: true });
  let state: PushState = "off";
  const show = (next: PushState) => {
    state = next;
    said.textContent = t(`push.${next}`);
    button.hidden = next === "unsupported" || next === "denied";
    button.textContent = t(next === "on" ? "push.disable" : "push.enable");
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      show(state === "on" ? await disablePush() : await enablePush());
    } catch (error) {
      status.say(error instanceof ApiError ? describeError(error) : t("push.failed"), "error");
    } finally {
      button.disabled = false;
    }
  });
  pushState().then(show).catch(() => show(pushSupported() ? "off" : "unsupported"));
  return h("div", { class: "card push-card" },
    h("h2", null, t("push.title")), h("p", { class: "hint" }, t("push.intro")), said, button, status.el);
}

interface SchoolRules {
  kinds: string[];
  forced: Record<string, "on" | "off">;
  excerpt: boolean;
  email: { pending: number; sent: number; bounced: number; failed: number; bouncing: number };
  push: { pending: number; sent: number; gone: number; failed: number; devices: number };
}

/** The school's admins: kinds forced on or off for everyone, and the e-mails'
 * counts (GET/PUT /api/schools/{school}/notifications). */
export function schoolNotificationsView(app: App): View {
  const status = statusLine();
  const school = encodeURIComponent(app.me?.school.id ?? "");
  const counts = h("p", { class: "hint", "aria-live": "polite" });
  const pushCounts = h("p", { class: "hint", "aria-live": "polite" });
  const list = h("div", { class: "prefs" }, h("p", { class: "muted" }, t("notif.loading")));
  const selects = new Map<string, HTMLSelectElement>();
  const excerpt = h("input", { id: "school-excerpt", type: "checkbox", "aria-describedby": "school-excerpt-hint" });
  const show = (found: SchoolRules) => {
    excerpt.checked = found.excerpt;
    const e = found.email;
    counts.textContent = t("notif.school.counts", {
      sent: e.sent, pending: e.pending, bounced: e.bounced, failed: e.failed, bouncing: e.bouncing,
    });
    const p = found.push;
    pushCounts.textContent = t("notif.school.pushCounts", {
      devices: p.devices, sent: p.sent, pending: p.pending, gone: p.gone, failed: p.failed,
    });
    clear(list);
    selects.clear();
    for (const kind of found.kinds) {
      const id = `force-${kind.replace(".", "-")}`;
      const forced: string = found.forced[kind] ?? "";
      const select = h("select", { id },
        h("option", { value: "", selected: forced === "" }, t("notif.school.free")),
        h("option", { value: "on", selected: forced === "on" }, t("notif.school.on")),
        h("option", { value: "off", selected: forced === "off" }, t("notif.school.off")));
      selects.set(kind, select);
      list.append(h("div", { class: "field" },
        h("label", { for: id }, t(`notif.pref.${kind}` as "notif.pref.message")), select));
    }
  };
  const form = h("form", {
    class: "card",
    oninput: status.clear,
    onsubmit: async (event: Event) => {
      event.preventDefault();
      const forced: Record<string, string | null> = {};
      for (const [kind, select] of selects) forced[kind] = select.value || null;
      try {
        show(await api("PUT", `/api/schools/${school}/notifications`, { forced, excerpt: excerpt.checked }));
        status.say(t("settings.saved"));
      } catch (error) {
        status.say(describeError(error), "error");
      }
    },
  }, h("p", { class: "hint" }, t("notif.school.intro")), counts, pushCounts,
  h("div", { class: "field checkbox" }, excerpt, " ",
    h("label", { for: "school-excerpt" }, t("notif.school.excerpt")),
    h("p", { id: "school-excerpt-hint", class: "hint" }, t("notif.school.excerptHint"))),
  list, h("button", { type: "submit" }, t("mod.save")), status.el);
  api<SchoolRules>("GET", `/api/schools/${school}/notifications`)
    .then(show).catch((error) => status.say(describeError(error), "error"));
  return { el: h("section", null, h("h1", null, t("notif.school.title")), form), title: t("notif.school.title") };
}
