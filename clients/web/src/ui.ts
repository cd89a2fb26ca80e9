// Small shared pieces: a text prompt in a native <dialog> (focus trapping and
// Escape for free), a polite status line for screen readers, error words.

import { h } from "./dom";
import { ApiError } from "./api";
import { OpError } from "./live";
import { errorText, t } from "./i18n";

export function askText(label: string, multiline = false): Promise<string | null> {
  return new Promise((resolve) => {
    const id = `ask-${Math.random().toString(36).slice(2)}`;
    const field = multiline
      ? h("textarea", { id, rows: 3, maxlength: 500 })
      : h("input", { id, type: "text", maxlength: 500 });
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
export function statusLine(): { el: HTMLElement; say: (text: string, kind?: "ok" | "error") => void } {
  const el = h("p", { class: "status", role: "status", "aria-live": "polite" });
  return {
    el,
    say(text, kind = "ok") {
      el.textContent = text;
      el.className = `status ${text ? kind : ""}`;
    },
  };
}
