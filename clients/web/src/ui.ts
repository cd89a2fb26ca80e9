// Small shared pieces: a text prompt in a native <dialog> (focus trapping and
// Escape for free), a polite status line for screen readers, error words.

import { h } from "./dom";
import { ApiError } from "./api";
import { OpError } from "./live";
import { errorText, t } from "./i18n";

export function askText(label: string, multiline = false, initial = "", maxlength = 500): Promise<string | null> {
  return new Promise((resolve) => {
    const id = `ask-${Math.random().toString(36).slice(2)}`;
    const field = multiline
      ? h("textarea", { id, rows: 3, maxlength })
      : h("input", { id, type: "text", maxlength });
    field.value = initial;
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": `${id}-label` },
      h("form", { method: "dialog" },
        h("label", { id: `${id}-label`, for: id }, label),
        field,
        h("div", { class: "actions" },
          h("button", { type: "submit", value: "cancel", class: "secondary" }, t("dialog.cancel")),
          h("button", { type: "submit", value: "ok" }, t("dialog.ok")),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      const value = dialog.returnValue === "ok" ? field.value.trim() : null;
      dialog.remove();
      resolve(value);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    field.focus();
  });
}

/** Delivery hours as a choice and a time range, never free text: `value()`
 * is "school" (a room: the school's), "off" (none) or "HH:MM-HH:MM". */
export function hoursPicker(
  id: string, label: string, value: string, choices: ("school" | "off" | "window")[],
): { el: HTMLElement; value: () => string } {
  const window = /^(\d\d:\d\d)-(\d\d:\d\d)$/.exec(value);
  const mode = h("select", { id: `${id}-mode`, name: `${id}-mode` },
    choices.map((c) => h("option", { value: c, selected: window ? c === "window" : c === value },
      t(`hours.${c}` as "hours.off"))));
  const from = h("input", { id: `${id}-from`, type: "time", required: true, value: window?.[1] ?? "07:00" });
  const to = h("input", { id: `${id}-to`, type: "time", required: true, value: window?.[2] ?? "20:00" });
  const range = h("div", { class: "time-range" },
    h("div", { class: "field" }, h("label", { for: `${id}-from` }, t("hours.from")), from),
    h("div", { class: "field" }, h("label", { for: `${id}-to` }, t("hours.to")), to));
  const show = () => {
    range.hidden = mode.value !== "window";
    from.disabled = to.disabled = range.hidden;
  };
  mode.addEventListener("change", show);
  show();
  return {
    el: h("fieldset", { class: "hours" }, h("legend", null, label),
      h("div", { class: "field" }, h("label", { for: `${id}-mode` }, t("hours.mode")), mode), range),
    value: () => (mode.value === "window" ? `${from.value.slice(0, 5)}-${to.value.slice(0, 5)}` : mode.value),
  };
}

/** "Léa Martin (6eA), Tom Martin (4eB)": a parent's children, to tell
 * apart families sharing a surname. */
export function childrenText(children: { name: string; class: string }[]): string {
  return children.map((c) => (c.class ? t("people.child", { name: c.name, class: c.class }) : c.name)).join(", ");
}

/** Who a person is, beyond their name: "parent de Léa Martin (6eA)" for a
 * parent whose children the server showed me, else their profile. */
export function personContext(card: { profile: string; children?: { name: string; class: string }[] }): string {
  if (card.children?.length) return t("people.parentOf", { children: childrenText(card.children) });
  return t(`profile.${card.profile}` as "profile.pupil");
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    return errorText(error.code, error.message, { retry_after: error.retryAfter, until: error.until });
  }
  if (error instanceof OpError) return errorText(error.code, error.message, error.error);
  return errorText("other", String(error));
}

/** A status line announced politely by screen readers. */
export function statusLine(): {
  el: HTMLElement; say: (text: string, kind?: "ok" | "error") => void; clear: () => void;
} {
  const el = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const say = (text: string, kind: "ok" | "error" = "ok") => {
    el.textContent = text;
    el.className = `status ${text ? kind : ""}`;
  };
  return {
    el,
    say,
    /** A form's ``oninput``: a "saved" from before is not about an edit made since. */
    clear: () => say(""),
  };
}
