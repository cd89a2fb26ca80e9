// The notification centre in the header: a button with the unread count (the
// badge) that opens a panel listing my notifications, newest first. Each one
// says who and where — never the message itself — and links to the room;
// following it marks it read. Escape closes the panel and gives the focus
// back to the button.

import type { App } from "../app";
import { append, clear, formatDateTime, h } from "../dom";
import { lang, t } from "../i18n";
import type { Notice } from "../notifications";

const KINDS = ["conversation", "message", "announcement", "held.approved", "held.rejected",
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
    clear(this.button);
    // Its name is what it shows, "Notifications 3", with "non lues" for
    // screen readers: "Notifications 3 non lues".
    append(this.button, [
      t("notif.button"),
      unread > 0 ? [" ", h("span", { class: "badge" }, shown),
        h("span", { class: "visually-hidden" },
          " " + t(unread === 1 ? "notif.button.unreadOne" : "notif.button.unread"))] : null,
    ]);
    this.button.setAttribute("aria-expanded", String(this.open));
    this.panel.hidden = !this.open;
    if (!this.open) return;
    clear(this.panel);
    const items = centre.items;
    append(this.panel, [
      h("div", { class: "notif-head" },
        h("h2", { id: "notifications-title", tabindex: -1 }, t("notif.title")),
        h("button", {
          type: "button", class: "secondary", disabled: unread === 0,
          onclick: () => void centre.markRead("all").catch(() => undefined),
        }, t("notif.markAll")),
      ),
      items.length === 0
        ? h("p", { class: "muted" }, centre.loaded ? t("notif.none") : t("notif.loading"))
        : h("ul", { class: "notif-list" }, items.map((n) => this.item(n))),
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
