// The charter of use, full screen, before anything else: the school's current
// version (Markdown, French first; English when the app is in English and the
// school gave a translation) and one "J'accepte" button. Real headings and
// lists, so a screen reader can walk it and read it aloud to a young pupil;
// sizes in rem, so large text just reflows.
// charterAdminView: the school's admins publish a new version (everyone
// accepts it again) and see who has not accepted the current one yet.

import { api } from "../api";
import type { App } from "../app";
import { clear, formatDateTime, h } from "../dom";
import { lang, t } from "../i18n";
import { describeError, statusLine } from "../ui";
import type { View } from "../router";

/** What /api/me says about the charter (the App's Me carries more). */
export interface CharterStatus {
  charter_required?: boolean;
  charter_version?: number;
}

interface Charter {
  version: number;
  body: string;
  body_en: string | null;
  accepted: boolean;
}

/** A small, safe Markdown subset as DOM (headings, lists, paragraphs, **bold**): text nodes only. */
export function markdown(source: string): HTMLElement[] {
  const out: HTMLElement[] = [];
  let paragraph: string[] = [];
  let list: HTMLElement | null = null;
  const flush = () => {
    if (paragraph.length) out.push(h("p", null, ...inline(paragraph.join(" "))));
    paragraph = [];
  };
  for (const raw of source.split("\n")) {
    const line = raw.trim();
    const heading = /^(#{1,3})\s+(.*)$/.exec(line);
    const item = /^[-*]\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      list = null;
      // The screen's own title is the h1: the charter's headings start at h2.
      const level = Math.min(heading[1].length + 1, 4);
      out.push(h(`h${level}` as "h2", null, ...inline(heading[2])));
    } else if (item) {
      flush();
      if (!list) out.push((list = h("ul")));
      list.append(h("li", null, ...inline(item[1])));
    } else if (!line) {
      flush();
      list = null;
    } else if (list && raw.startsWith("  ")) {
      list.lastElementChild?.append(" ", ...inline(line));
    } else {
      list = null;
      paragraph.push(line);
    }
  }
  flush();
  return out;
}

function inline(text: string): (string | HTMLElement)[] {
  return text.split(/\*\*(.+?)\*\*/g).map((part, i) => (i % 2 ? h("strong", null, part) : part));
}

export function charterView(accepted: () => Promise<void>): View {
  const status = statusLine();
  const body = h("div", { class: "charter-text", id: "charter-text", tabindex: 0 });
  const button = h("button", { type: "button", class: "big", disabled: true, "aria-describedby": "charter-text" },
    t("charter.accept"));
  let version = 0;
  const el = h("section", { class: "charter card", "aria-labelledby": "charter-title" },
    h("h1", { id: "charter-title", tabindex: -1 }, t("charter.title")),
    h("p", { class: "hint" }, t("charter.intro")),
    body,
    button,
    status.el,
  );
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("POST", "/api/charter/accept", { version });
      await accepted();
    } catch (error) {
      status.say(describeError(error), "error");
      button.disabled = false;
      void load();
    }
  });
  async function load(): Promise<void> {
    try {
      const charter = await api<Charter>("GET", "/api/charter");
      version = charter.version;
      const text = lang() === "en" && charter.body_en ? charter.body_en : charter.body;
      body.setAttribute("lang", lang() === "en" && charter.body_en ? "en" : "fr");
      body.replaceChildren(...markdown(text));
      button.disabled = false;
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }
  void load();
  queueMicrotask(() => el.querySelector<HTMLElement>("h1")?.focus());
  return { el, title: t("charter.title") };
}

interface Acceptances {
  version: number;
  accepted: { person: { id: string; name: string }; at: number }[];
  pending: { id: string; name: string }[];
}

/** The school's admins: publish a new version, see who has not accepted yet. */
export function charterAdminView(app: App): View {
  const status = statusLine();
  const school = encodeURIComponent(app.me?.school.id ?? "");
  const current = h("p", { class: "hint" });
  const who = h("div", { class: "charter-who" });
  // Disabled until the current text is in them: typing before it arrived would be overwritten.
  const fr = h("textarea", { id: "charter-fr", rows: 14, required: true, disabled: true, maxlength: 50000, lang: "fr", "aria-describedby": "charter-help" });
  const en = h("textarea", { id: "charter-en", rows: 8, maxlength: 50000, lang: "en", disabled: true });
  const preview = h("div", { class: "charter-text", "aria-live": "polite" });
  const showPreview = () => preview.replaceChildren(...markdown(fr.value));
  fr.addEventListener("input", showPreview);
  // The texts of the version in force: a new French text with the English
  // left as it was would have English readers accept the old one.
  let loaded = { fr: "", en: "", version: 0 };
  let staleConfirmed = false;
  const publish = h("button", { type: "submit" }, t("charterAdmin.publish"));
  const unconfirm = () => {
    staleConfirmed = false;
    publish.textContent = t("charterAdmin.publish");
  };
  fr.addEventListener("input", unconfirm);
  en.addEventListener("input", unconfirm);

  async function load(): Promise<void> {
    try {
      const charter = await api<Charter & { published: number }>("GET", "/api/charter");
      fr.value = charter.body;
      en.value = charter.body_en ?? "";
      loaded = { fr: fr.value, en: en.value, version: charter.version };
      unconfirm();
      fr.disabled = en.disabled = false;
      showPreview();
      current.textContent = t("charterAdmin.current", { version: charter.version, time: formatDateTime(charter.published, lang()) });
      const found = await api<Acceptances>("GET", `/api/schools/${school}/charter/acceptances`);
      clear(who);
      who.append(
        h("p", null, t("charterAdmin.accepted", { n: found.accepted.length })),
        h("p", null, t("charterAdmin.pending", { n: found.pending.length })),
      );
      if (found.pending.length) who.append(h("ul", { class: "charter-pending" }, found.pending.map((p) => h("li", null, p.name))));
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  const form = h("form", {
    class: "card",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      if (!fr.value.trim()) return;
      const staleEnglish = en.value.trim() !== "" && en.value === loaded.en && fr.value !== loaded.fr;
      if (staleEnglish && !staleConfirmed) {
        // Asked once: update or empty it (English readers then read the
        // French), or publish again to keep it for this version.
        staleConfirmed = true;
        publish.textContent = t("charterAdmin.publishAnyway");
        status.say(t("charterAdmin.enStale", { version: loaded.version }), "error");
        en.focus();
        return;
      }
      try {
        const published = await api<{ version: number }>("POST", `/api/schools/${school}/charter`, {
          body: fr.value, ...(en.value.trim() ? { body_en: en.value } : {}),
        });
        status.say(t("charterAdmin.published", { version: published.version }));
        // Everyone else accepts it again (the publisher's acceptance is recorded with it).
        await load();
      } catch (error) {
        status.say(describeError(error), "error");
      }
    },
  },
    h("h2", null, t("charterAdmin.new")),
    h("p", { id: "charter-help", class: "hint" }, t("charterAdmin.help")),
    h("div", { class: "field" }, h("label", { for: "charter-fr" }, t("charterAdmin.fr")), fr),
    h("div", { class: "field" }, h("label", { for: "charter-en" }, t("charterAdmin.en")), en),
    h("h3", null, t("charterAdmin.preview")),
    preview,
    publish,
  );
  void load();
  return {
    el: h("section", { "aria-labelledby": "charter-admin-title" },
      h("h1", { id: "charter-admin-title" }, t("charterAdmin.title")),
      status.el,
      h("section", { class: "card" }, h("h2", null, t("charterAdmin.who")), current, who),
      form),
    title: t("charterAdmin.title"),
  };
}
