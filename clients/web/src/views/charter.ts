// The charter of use, full screen, before anything else: the school's current
// version (Markdown, French first; English when the app is in English and the
// school gave a translation) and one "J'accepte" button. Real headings and
// lists, so a screen reader can walk it and read it aloud to a young pupil;
// sizes in rem, so large text just reflows.

import { api } from "../api";
import { h } from "../dom";
import { lang } from "../i18n";
import { describeError, statusLine } from "../ui";
import type { View } from "../router";

// The screen's words, French first (kept here until i18n.ts takes them).
const WORDS = {
  fr: {
    title: "Charte d'utilisation",
    intro: "Avant de continuer, lisez la charte de l'établissement (ou demandez qu'on vous la lise), puis acceptez-la.",
    accept: "J'accepte",
  },
  en: {
    title: "Charter of use",
    intro: "Before going on, read the school's charter (or ask someone to read it to you), then accept it.",
    accept: "I accept",
  },
};

function t(key: keyof (typeof WORDS)["fr"]): string {
  return WORDS[lang()][key];
}

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
    t("accept"));
  let version = 0;
  const el = h("section", { class: "charter card", "aria-labelledby": "charter-title" },
    h("h1", { id: "charter-title", tabindex: -1 }, t("title")),
    h("p", { class: "hint" }, t("intro")),
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
  return { el, title: t("title") };
}
