// A tiny DOM builder: h("button", {onclick}, "text"). No framework: the app is
// small, and plain DOM keeps the bundle tiny and the CSP strict (no eval, no
// inline styles or scripts).

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value as EventListener);
      } else if (key === "class") {
        el.className = String(value);
      } else if (key === "value" && "value" in el) {
        (el as HTMLInputElement).value = String(value);
      } else if (key === "checked" || key === "disabled" || key === "selected") {
        (el as unknown as Record<string, boolean>)[key] = Boolean(value);
      } else {
        el.setAttribute(key, value === true ? "" : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function formatTime(ts: number, lang: string): string {
  const d = new Date(ts);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString(lang, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

/** Date and time, always with the date (a log is read days later). */
export function formatDateTime(ts: number, lang: string): string {
  return new Date(ts).toLocaleString(lang, {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

export interface Keyed {
  key: string;
  sig: string; // what the element shows; a new value rebuilds it
  make: () => HTMLElement;
  /** Brings a kept (or new) element's insides up to date in place. */
  fill?: (el: HTMLElement) => void;
}

/** Make `parent`'s children match `desired`, reusing unchanged elements in
 * place (never moving them: moving a node drops the focus inside it). A
 * live event redrawing a screen this way leaves alone the element under a
 * finger or the keyboard's focus: replacing it between the press and the
 * release loses the click. */
export function patch(parent: HTMLElement, desired: Keyed[]): void {
  const existing = new Map<string, HTMLElement>();
  for (const child of [...parent.children] as HTMLElement[]) {
    if (child.dataset.key) existing.set(child.dataset.key, child);
    else child.remove(); // not ours (a previous screen's content)
  }
  const wanted = new Set(desired.map((d) => d.key));
  for (const [key, child] of existing) {
    if (!wanted.has(key)) child.remove();
  }
  let cursor = parent.firstElementChild as HTMLElement | null;
  for (const item of desired) {
    const current = existing.get(item.key);
    if (current && current.dataset.sig === item.sig) {
      if (current === cursor) {
        cursor = cursor.nextElementSibling as HTMLElement | null;
      } else {
        parent.insertBefore(current, cursor); // out of order: rare (older pages come first)
      }
      item.fill?.(current);
      continue;
    }
    const made = item.make();
    made.dataset.key = item.key;
    made.dataset.sig = item.sig;
    if (current) {
      if (current === cursor) cursor = cursor.nextElementSibling as HTMLElement | null;
      current.replaceWith(made);
      if (made.nextElementSibling !== cursor) parent.insertBefore(made, cursor);
    } else {
      parent.insertBefore(made, cursor);
    }
    item.fill?.(made);
  }
}
