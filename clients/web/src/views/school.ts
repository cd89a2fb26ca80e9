// School-level screens: the reports queue (moderators), the audit log and the
// word lists (the school's admins).

import { api } from "../api";
import type { App } from "../app";
import { clear, formatDateTime, formatTime, h } from "../dom";
import { lang, t } from "../i18n";
import type { View } from "../router";
import type { Card } from "../app";
import { askText, describeError, hoursPicker, personContext, statusLine } from "../ui";
import { attachmentsBlock } from "./attachments";
import { removedText } from "./room";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function reportsView(app: App): View {
  const status = statusLine();
  const body = h("div", null);
  const school = encodeURIComponent(app.me?.school.id ?? "");

  async function load(): Promise<void> {
    try {
      const { reports } = await api<{ reports: Json[] }>("GET", `/api/schools/${school}/reports`);
      clear(body);
      if (!reports.length) body.append(h("p", { class: "muted" }, t("reports.none")));
      for (const report of reports) body.append(reportCard(report));
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  function reportCard(report: Json): HTMLElement {
    const resolve = (outcome: "keep" | "delete") => async () => {
      const reason = outcome === "delete" ? await askText(t("room.deleteReason")) : "";
      if (reason === null) return;
      try {
        await api("POST", `/api/schools/${school}/reports/${encodeURIComponent(report.id)}/resolve`,
          { outcome, ...(reason ? { reason } : {}) });
        await load();
      } catch (error) {
        status.say(describeError(error), "error");
      }
    };
    // Redactions are not messages: they mark the message they removed.
    const all = (report.context ?? []) as Json[];
    const removals = new Map(all.filter((m) => m.ev === "chat.redaction").map((m) => [m.redacts, m]));
    const context = all.filter((m) => m.ev !== "chat.redaction").map((m) => {
      const removal = removals.get(m.seq);
      return removal ? { ...m, removedBy: removal.by?.id === m.sender?.id ? "author" : "moderator", reason: removal.reason } : m;
    });
    return h("article", { class: "card report", "data-report": report.id },
      h("h2", null, t("reports.in", { name: report.room.name })),
      h("p", { class: "muted" }, t("reports.by", { name: report.reporter.name }), " · ",
        formatTime(report.ts, lang()), report.reason ? ` · « ${report.reason} »` : ""),
      h("ol", { class: "messages context" }, context.map((m) => h("li", {
        class: `msg${m.seq === report.seq ? " reported" : ""}`,
      },
        h("div", { class: "meta" }, h("strong", null, m.sender?.name ?? ""), " ", formatTime(m.ts, lang())),
        h("p", { class: `body${m.redacted ? " muted" : ""}` }, m.redacted ? removedText(m) : m.body ?? ""),
        m.redacted && m.reason ? h("p", { class: "detail" }, t("room.deletedReason", { reason: m.reason })) : null,
        // The reported message's files, read for this review (its moderators
        // and the school's admins, even outside a private conversation).
        m.seq === report.seq && !m.redacted && m.attachments?.length ? attachmentsBlock(m.attachments, report.id) : null,
      ))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: resolve("keep") }, t("reports.keep")),
        h("button", { type: "button", class: "danger", onclick: resolve("delete") }, t("reports.delete")),
      ),
    );
  }

  void load();
  return {
    el: h("section", null, h("h1", null, t("reports.title")), status.el, body),
    title: t("reports.title"),
  };
}

export function auditView(app: App): View {
  const status = statusLine();
  const table = h("tbody", null);
  const more = h("div", null);
  const school = encodeURIComponent(app.me?.school.id ?? "");

  async function load(before?: number): Promise<void> {
    try {
      const query = new URLSearchParams({ limit: "50" });
      if (before) query.set("before", String(before));
      const page = await api<{ entries: Json[]; next?: number }>("GET", `/api/schools/${school}/audit?${query}`);
      if (!before && !page.entries.length) status.say(t("audit.none"));
      for (const e of page.entries) {
        table.append(h("tr", null,
          h("td", null, h("time", { datetime: new Date(e.ts).toISOString() }, formatDateTime(e.ts, lang()))),
          h("td", { "data-action": e.action }, auditAction(e.action)),
          h("td", null, e.actor?.name ?? ""),
          h("td", null, e.room?.name ?? ""),
          h("td", null, e.target?.name ?? ""),
          h("td", null, [e.reason, e.content ? `« ${e.content} »` : ""].filter(Boolean).join(" — ")),
        ));
      }
      clear(more);
      if (page.next) {
        more.append(h("button", { type: "button", class: "secondary", onclick: () => load(page.next) }, t("audit.more")));
      }
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  const headers = lang() === "fr"
    ? ["Quand", "Action", "Par", "Salle", "Concerne", "Détails"]
    : ["When", "Action", "By", "Room", "Concerns", "Details"];
  void load();
  return {
    el: h("section", null,
      h("h1", null, t("audit.title")), status.el,
      h("div", { class: "table-wrap" }, h("table", { class: "audit" },
        h("thead", null, h("tr", null, headers.map((x) => h("th", { scope: "col" }, x)))), table)),
      more,
    ),
    title: t("audit.title"),
  };
}

/** An audit action's words (its code stays in data-action, for support). */
function auditAction(action: string): string {
  const key = `audit.action.${action}` as Parameters<typeof t>[0];
  const text = t(key);
  return text === key ? action : text;
}

export function wordsView(app: App): View {
  const status = statusLine();
  const school = encodeURIComponent(app.me?.school.id ?? "");
  const areas = {
    block: h("textarea", { id: "words-block", rows: 6 }),
    hold: h("textarea", { id: "words-hold", rows: 6 }),
    alert: h("textarea", { id: "words-alert", rows: 6 }),
  };
  const fields = h("fieldset", { class: "plain", disabled: true },
    (["block", "hold", "alert"] as const).map((k) => h("div", { class: "field" },
      h("label", { for: `words-${k}` }, t(`words.${k}`)), areas[k])),
    h("button", { type: "submit" }, t("mod.save")),
  );
  const lines = (area: HTMLTextAreaElement) => area.value.split("\n").map((x) => x.trim()).filter(Boolean);
  const form = h("form", {
    class: "card",
    oninput: status.clear,
    "aria-busy": "true",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      try {
        await api("PUT", `/api/schools/${school}/word-filter`, {
          block: lines(areas.block), hold: lines(areas.hold), alert: lines(areas.alert),
        });
        status.say(t("words.saved"));
      } catch (error) {
        status.say(describeError(error), "error");
      }
    },
  },
    h("p", { class: "hint" }, t("words.help")),
    fields,
    status.el,
  );
  // Nothing can be typed or saved before the school's lists are shown: what
  // was typed would be overwritten when they arrive, and a save before then
  // would replace the school's lists with empty ones.
  api<{ block: string[]; hold: string[]; alert: string[] }>("GET", `/api/schools/${school}/word-filter`)
    .then((lists) => {
      areas.block.value = lists.block.join("\n");
      areas.hold.value = lists.hold.join("\n");
      areas.alert.value = lists.alert.join("\n");
      fields.disabled = false;
      form.removeAttribute("aria-busy");
    })
    .catch((error) => status.say(describeError(error), "error"));
  return { el: h("section", null, h("h1", null, t("words.title")), form), title: t("words.title") };
}

export function newConversationView(app: App, go: (path: string) => void): View {
  const status = statusLine();
  const results = h("ul", { class: "people" });
  const search = h("input", { id: "people-search", type: "search", autocomplete: "off" });
  let timer = 0;

  async function find(): Promise<void> {
    try {
      const { people } = await api<{ people: Card[] }>(
        "GET", `/api/directory?q=${encodeURIComponent(search.value.trim())}`,
      );
      clear(results);
      if (!people.length) results.append(h("li", { class: "muted" }, t("new.none")));
      for (const person of people) {
        results.append(h("li", null, h("button", {
          type: "button", class: "person",
          onclick: async () => {
            try {
              const reply = await app.request("conversation.open", { people: [person.id] });
              // /api/rooms gives the head, so an existing conversation is not replayed whole.
              await app.refreshRooms();
              if (!app.rooms.has(reply.room.id)) app.addRoom({ ...reply.room, head: 0 });
              go(`/room/${encodeURIComponent(reply.room.id)}`);
            } catch (error) {
              status.say(describeError(error), "error");
            }
          },
        }, t("new.open", { name: person.name }), " ",
          h("span", { class: "muted" }, `· ${personContext(person)}`))));
      }
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  search.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(find, 250);
  });
  void find();
  queueMicrotask(() => search.focus());
  return {
    el: h("section", { class: "card" },
      h("h1", null, t("new.title")),
      h("div", { class: "field" }, h("label", { for: "people-search" }, t("new.search")), search),
      status.el, results,
    ),
    title: t("new.title"),
  };
}

export function settingsView(app: App): View {
  const status = statusLine();
  const school = encodeURIComponent(app.me?.school.id ?? "");
  let hours = hoursPicker("quiet", t("settings.window"), "off", ["off", "window"]);
  const hoursHost = h("div", null, hours.el);
  const help = h("p", { id: "window-help", class: "hint" });
  const parents = h("input", { id: "parents-may", type: "checkbox", "aria-describedby": "parents-effect" });
  // What the box does, for the state it is in now: read before saving.
  const effect = h("p", { id: "parents-effect", class: "hint", "aria-live": "polite" });
  let savedParents: boolean | null = null;
  const showEffect = () => {
    effect.textContent = t(parents.checked ? "settings.parentsOn" : "settings.parentsOff")
      + (savedParents !== null && parents.checked !== savedParents ? ` ${t("settings.unsaved")}` : "");
  };
  parents.addEventListener("change", showEffect);
  const presence = h("input", { id: "staff-presence", type: "checkbox", "aria-describedby": "presence-effect" });
  const presenceEffect = h("p", { id: "presence-effect", class: "hint", "aria-live": "polite" });
  let savedPresence: boolean | null = null;
  const showPresence = () => {
    presenceEffect.textContent = t(presence.checked ? "settings.presenceOn" : "settings.presenceOff")
      + (savedPresence !== null && presence.checked !== savedPresence ? ` ${t("settings.unsaved")}` : "");
  };
  presence.addEventListener("change", showPresence);
  const reactions = h("input", { id: "reactions-announcements", type: "checkbox" });
  // Disabled until the school's settings are read: a choice made before
  // would be replaced by what the server says.
  const fields = h("fieldset", { class: "plain", disabled: true },
    hoursHost, help,
    h("div", { class: "check" }, parents, h("label", { for: "parents-may" }, t("settings.parents"))),
    effect,
    h("div", { class: "check" }, presence, h("label", { for: "staff-presence" }, t("settings.presence"))),
    presenceEffect,
    h("div", { class: "check" }, reactions, h("label", { for: "reactions-announcements" }, t("settings.reactions"))),
    h("button", { type: "submit" }, t("mod.save")),
  );
  const form = h("form", {
    class: "card",
    oninput: status.clear,
    onsubmit: async (event: Event) => {
      event.preventDefault();
      try {
        await api("PUT", `/api/schools/${school}/settings`, {
          quiet_hours: hours.value(), parents_may_message: parents.checked,
          reactions_in_announcements: reactions.checked,
          staff_presence_to_parents: presence.checked,
        });
        savedParents = parents.checked;
        savedPresence = presence.checked;
        showEffect();
        showPresence();
        status.say(t("settings.saved"));
      } catch (error) {
        status.say(describeError(error), "error");
      }
    },
  },
    fields,
    status.el,
  );
  api<{ quiet_hours: string; timezone: string; parents_may_message: boolean; reactions_in_announcements: boolean;
    staff_presence_to_parents: boolean; }>(
    "GET", `/api/schools/${school}/settings`,
  ).then((found) => {
    hours = hoursPicker("quiet", t("settings.window"), found.quiet_hours, ["off", "window"]);
    clear(hoursHost);
    hoursHost.append(hours.el);
    parents.checked = found.parents_may_message;
    savedParents = found.parents_may_message;
    showEffect();
    presence.checked = found.staff_presence_to_parents;
    savedPresence = found.staff_presence_to_parents;
    showPresence();
    reactions.checked = found.reactions_in_announcements;
    help.textContent = t("settings.windowHelp", { tz: found.timezone });
    fields.disabled = false;
  }).catch((error) => status.say(describeError(error), "error"));
  return { el: h("section", null, h("h1", null, t("settings.title")), form), title: t("settings.title") };
}
