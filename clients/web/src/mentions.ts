// Mentions in the composer: typing "@" and the start of a name offers the
// people of the room the app knows (online now, or who wrote in it); choosing
// one writes "@Prénom Nom ", which the server reads as a mention
// (preau/server/notifications/mentions.py). Case and accents aside, as there.

import type { RoomState } from "./model";

/** Lower case, without accents or the œ/æ ligatures (as the server folds). */
export function fold(text: string): string {
  return text.toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "")
    .replace(/œ/g, "oe").replace(/æ/g, "ae");
}

/** The "@…" being typed just before the caret: where it starts and what follows "@". */
export function typedMention(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const found = /(^|\s)@([^\s@]{0,30}(?: [^\s@]{0,30})?)$/u.exec(before);
  if (!found) return null;
  return { start: before.length - found[2].length - 1, query: found[2] };
}

/** Names of the room's people I know, but mine: online now, or who wrote in it. */
export function roomNames(room: RoomState, me: string | undefined): string[] {
  const names = new Map<string, string>();
  for (const [id, name] of room.online) if (id !== me && name) names.set(id, name);
  for (const entry of room.timeline.values()) {
    if (entry.sender?.id && entry.sender.id !== me && entry.sender.name) names.set(entry.sender.id, entry.sender.name);
  }
  return [...new Set(names.values())].sort((a, b) => a.localeCompare(b, "fr"));
}

/** The names matching `query` (a word of the name starts with it), at most `limit`. */
export function matching(names: string[], query: string, limit = 6): string[] {
  const q = fold(query.trim());
  return names.filter((name) => !q || fold(name).startsWith(q) || fold(name).split(/\s+/).some((w) => w.startsWith(q)))
    .slice(0, limit);
}

/** Whether `body` mentions `name` ("@Name" at a word boundary). */
export function mentions(body: string, name: string): boolean {
  const text = fold(body);
  const wanted = "@" + fold(name);
  let at = text.indexOf(wanted);
  while (at >= 0) {
    const next = text.charAt(at + wanted.length);
    if (!next || !/[\p{L}\p{N}]/u.test(next)) return true;
    at = text.indexOf(wanted, at + 1);
  }
  return false;
}
