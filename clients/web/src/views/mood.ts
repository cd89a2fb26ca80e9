// The mood of the day (docs/protocol.md, "Mood of the day") and the simpler
// screen for young pupils (kindergarten and primary classes):
// - youngHomeView: a pupil of a marked class's home — big pictures with their
//   words beside every action, today's mood picker (taps only, no typing, no
//   reading needed), the teacher's latest messages with "Écouter" (the
//   browser's speech synthesis, where there is one), a big link to the class;
// - moodBoardView: a class's board for its teachers and the school's staff,
//   counts and each pupil's pictures, live (mood.changed);
// - moodLinks: on the usual home, the boards I see and my children's pictures.

import { api } from "../api";
import type { App } from "../app";
import { clear, formatTime, h } from "../dom";
import { lang, t } from "../i18n";
import type { Entry } from "../model";
import type { View } from "../router";
import { describeError, statusLine } from "../ui";

export interface Picture { id: string; emoji: string; fr: string; en: string }
export interface Question { question: string; fr: string; en: string; pictures: Picture[] }
export interface MoodEntry { day: string; mood: string | null; night: string | null; breakfast: string | null; at: number }
export interface MoodClass { id: string; name: string; level: string | null }
export interface MoodSummary {
  day: string;
  may_change: boolean;
  questions: Question[];
  self: { class: MoodClass; entry: MoodEntry | null; teachers: { id: string; name: string }[] } | null;
  boards: MoodClass[];
  children: { person: { id: string; name: string }; class: MoodClass; entry: MoodEntry | null }[];
}

const QUESTIONS = ["mood", "night", "breakfast"] as const;
// A picture beside each question's title (the words stay: for whoever reads them).
const QUESTION_EMOJI: Record<string, string> = { mood: "🌈", night: "🌙", breakfast: "🥣" };

function words(item: { fr: string; en: string }): string {
  return lang() === "fr" ? item.fr : item.en;
}

function picture(questions: Question[], question: string, id: string | null): Picture | undefined {
  return questions.find((q) => q.question === question)?.pictures.find((p) => p.id === id);
}

/** An entry as pictures with their words ("—" when not answered). */
function entryText(questions: Question[], entry: MoodEntry | null): HTMLElement {
  return h("span", { class: "mood-picks" }, QUESTIONS.map((q) => {
    const found = picture(questions, q, entry?.[q] ?? null);
    return h("span", { class: "mood-pick" },
      found ? [h("span", { class: "emoji", "aria-hidden": "true" }, found.emoji), " ", words(found)] : "—");
  }));
}

/** Read a text aloud with the browser's speech synthesis, in the app's language. */
export function speak(text: string): boolean {
  if (!("speechSynthesis" in window) || typeof SpeechSynthesisUtterance === "undefined") return false;
  window.speechSynthesis.cancel();
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.lang = lang() === "fr" ? "fr-FR" : "en-GB";
  utterance.rate = 0.9;
  window.speechSynthesis.speak(utterance);
  return true;
}

export function youngHomeView(app: App, summary: MoodSummary): View {
  const status = statusLine();
  const self = summary.self!;
  let entry = self.entry;
  let mayChange = summary.may_change;
  const picker = h("div", { class: "mood-questions" });
  const messages = h("ul", { class: "young-messages" });
  const canSpeak = "speechSynthesis" in window;
  const room = [...app.rooms.values()].find((r) => r.info.kind === "class" && r.info.class_id === self.class.id);
  const teacherIds = new Set(self.teachers.map((p) => p.id));

  async function pick(question: string, id: string): Promise<void> {
    try {
      const reply = await api<{ entry: MoodEntry; may_change: boolean }>("PUT", "/api/mood", { [question]: id });
      entry = reply.entry;
      mayChange = reply.may_change;
      const chosen = picture(summary.questions, question, id);
      status.say(chosen ? t("young.picked", { what: words(chosen) }) : t("settings.saved"));
    } catch (error) {
      status.say(describeError(error), "error");
    }
    drawPicker();
  }

  function drawPicker(): void {
    clear(picker);
    for (const q of summary.questions) {
      const chosen = entry?.[q.question as (typeof QUESTIONS)[number]] ?? null;
      // After noon an answered question stays as it is (the server says so too).
      const locked = chosen !== null && !mayChange;
      picker.append(h("fieldset", { class: "mood-question" },
        h("legend", null, h("span", { class: "emoji", "aria-hidden": "true" }, QUESTION_EMOJI[q.question] ?? ""), " ", words(q)),
        h("div", { class: "mood-tiles" }, q.pictures.map((p) => h("button", {
          type: "button", class: `mood-tile${p.id === chosen ? " chosen" : ""}`,
          "aria-pressed": String(p.id === chosen), disabled: locked && p.id !== chosen,
          onclick: () => void pick(q.question, p.id),
        }, h("span", { class: "emoji", "aria-hidden": "true" }, p.emoji), h("span", { class: "label" }, words(p))))),
      ));
    }
  }

  function teacherMessages(): Entry[] {
    if (!room) return [];
    return room.sorted().filter((e) => !e.redacted && e.body && teacherIds.has(e.sender.id)).slice(-3).reverse();
  }

  function drawMessages(): void {
    clear(messages);
    const found = teacherMessages();
    if (!found.length) {
      messages.append(h("li", { class: "muted" }, t("young.noMessages")));
      return;
    }
    for (const message of found) {
      messages.append(h("li", { class: "young-message" },
        h("p", { class: "meta" }, h("strong", null, message.sender.name), " ",
          h("time", { datetime: new Date(message.ts).toISOString() }, formatTime(message.ts, lang()))),
        h("p", { class: "body" }, message.body ?? ""),
        canSpeak ? h("button", {
          type: "button", class: "young-action",
          "aria-label": t("young.listenTo", { name: message.sender.name }),
          onclick: () => speak(`${message.sender.name}. ${message.body ?? ""}`),
        }, h("span", { class: "emoji", "aria-hidden": "true" }, "🔊"), h("span", { class: "label" }, t("young.listen"))) : null,
      ));
    }
  }

  const el = h("section", { class: "young", "aria-labelledby": "young-title" },
    h("h1", { id: "young-title" }, h("span", { class: "emoji", "aria-hidden": "true" }, "👋"), " ",
      t("home.hello", { name: app.me?.person.name ?? "" })),
    status.el,
    h("section", { class: "card", "aria-labelledby": "young-mood" },
      h("h2", { id: "young-mood" }, h("span", { class: "emoji", "aria-hidden": "true" }, "☀️"), " ", t("young.moodTitle")),
      picker),
    h("section", { class: "card", "aria-labelledby": "young-teacher" },
      h("h2", { id: "young-teacher" }, h("span", { class: "emoji", "aria-hidden": "true" }, "📢"), " ", t("young.teacher")),
      messages),
    room ? h("nav", { class: "young-nav", "aria-label": t("young.nav") },
      h("a", { href: `/room/${encodeURIComponent(room.info.id)}`, "data-link": true, class: "young-action" },
        h("span", { class: "emoji", "aria-hidden": "true" }, "💬"), h("span", { class: "label" }, t("young.class", { name: room.info.name })))) : null,
  );
  drawPicker();
  drawMessages();
  if (room && !room.historyLoaded) void app.loadHistory(room).catch(() => undefined);
  return { el, title: t("nav.home"), update: drawMessages };
}

export function moodBoardView(app: App, classId: string): View {
  const status = statusLine();
  const body = h("div", { class: "mood-board" });
  const title = h("h1", { id: "mood-board-title" }, t("mood.board"));
  let questions: Question[] = [];
  interface Board { class: MoodClass; day: string; counts: Record<string, Record<string, number>>; pupils: ({ person: { id: string; name: string } } & Record<string, unknown>)[] }
  let board: Board | null = null;

  function draw(): void {
    clear(body);
    if (!board) return;
    title.textContent = t("mood.boardOf", { name: board.class.name });
    for (const q of questions) {
      const counts = board.counts[q.question] ?? {};
      body.append(h("section", { class: "card" },
        h("h2", null, h("span", { class: "emoji", "aria-hidden": "true" }, QUESTION_EMOJI[q.question] ?? ""), " ", words(q)),
        h("ul", { class: "mood-counts" }, q.pictures.map((p) => h("li", { "data-picture": `${q.question}.${p.id}` },
          h("span", { class: "emoji", "aria-hidden": "true" }, p.emoji), " ", words(p), t("colon"),
          h("strong", { class: "count" }, String(counts[p.id] ?? 0)))))));
    }
    body.append(h("section", { class: "card" },
      h("h2", null, t("mood.pupils")),
      h("table", { class: "mood-table" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, t("mood.pupil")),
          questions.map((q) => h("th", { scope: "col" }, words(q))))),
        h("tbody", null, board.pupils.map((row) => h("tr", { "data-person": row.person.id },
          h("th", { scope: "row" }, row.person.name),
          questions.map((q) => {
            const found = picture(questions, q.question, (row[q.question] as string | null) ?? null);
            return h("td", null, found ? [h("span", { class: "emoji", "aria-hidden": "true" }, found.emoji), " ", words(found)] : "—");
          })))))));
  }

  async function load(): Promise<void> {
    try {
      const summary = app.mood ?? await api<MoodSummary>("GET", "/api/mood");
      questions = summary.questions;
      board = await api<Board>("GET", `/api/mood/classes/${encodeURIComponent(classId)}`);
    } catch (error) {
      status.say(describeError(error), "error");
    }
    draw();
  }

  // Live: a pupil of the class picked (on any node); the board is read again.
  const off = app.on("mood.changed", (frame) => {
    if (frame.class === classId) void load();
  });
  void load();
  return {
    el: h("section", { "aria-labelledby": "mood-board-title" }, title, status.el, body),
    title: t("mood.board"), destroy: off,
  };
}

/** On the usual home: links to the boards I see, and my children's pictures today. */
export function moodCard(summary: MoodSummary | null): HTMLElement | null {
  if (!summary || (!summary.boards.length && !summary.children.length)) return null;
  return h("section", { class: "card" },
    h("h2", null, h("span", { class: "emoji", "aria-hidden": "true" }, "☀️"), " ", t("mood.title")),
    summary.boards.length ? h("ul", { class: "rooms" }, summary.boards.map((c) => h("li", { class: "room-item" },
      h("a", { href: `/mood/${encodeURIComponent(c.id)}`, "data-link": true, class: "mood-link" },
        h("span", { class: "room-name" }, t("mood.boardOf", { name: c.name })))))) : null,
    summary.children.map((child) => h("p", { class: "mood-child" },
      h("strong", null, child.person.name), t("colon"), entryText(summary.questions, child.entry))),
  );
}
