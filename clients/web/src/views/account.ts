// "Mon compte": change my password (my other devices are then logged out) and
// see the devices where I am logged in, with a button to log one out (its
// open pages close at once). Issue 19.

import { api } from "../api";
import type { App } from "../app";
import { clear, formatDateTime, h } from "../dom";
import { lang, t } from "../i18n";
import { describeError, statusLine } from "../ui";
import type { View } from "../router";

interface DeviceSession {
  id: string;
  device: string;
  created: number;
  last_seen: number;
  expires: number;
  remembered: boolean;
  current: boolean;
}

function passwordField(id: string, label: string, autocomplete: string): [HTMLElement, HTMLInputElement] {
  const input = h("input", { id, name: id, type: "password", required: true, autocomplete });
  return [h("div", { class: "field" }, h("label", { for: id }, label), input), input];
}

interface EmailStatus {
  email: string | null;
  bouncing_since: number | null;
  pending: { email: string; expires: number } | null;
}

/** "Adresse pour les notifications": mine, and a change confirmed by a link
 * mailed to the new address (PUT /api/account/email). Not for pupils. */
function emailCard(): HTMLElement {
  const status = statusLine();
  const shown = h("div", { "aria-live": "polite" });
  const input = h("input", { id: "new-email", name: "email", type: "email", required: true, autocomplete: "email" });
  const submit = h("button", { type: "submit" }, t("account.email.submit"));
  const show = (found: EmailStatus) => {
    clear(shown);
    shown.append(h("p", null, found.email ? t("account.email.current", { email: found.email }) : t("account.email.none")));
    if (found.bouncing_since !== null) shown.append(h("p", { class: "error" }, t("account.email.bouncing")));
    if (found.pending) {
      shown.append(h("p", { class: "hint" }, t("account.email.pending", {
        email: found.pending.email, until: formatDateTime(found.pending.expires, lang()) })));
    }
  };
  const form = h("form", {
    class: "card", "aria-labelledby": "email-title",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        show(await api<EmailStatus>("PUT", "/api/account/email", { email: input.value }));
        input.value = "";
        status.say(t("account.email.sent"));
      } catch (error) {
        status.say(describeError(error), "error");
      } finally {
        submit.disabled = false;
      }
    },
  },
    h("h2", { id: "email-title" }, t("account.email.title")), shown,
    h("div", { class: "field" }, h("label", { for: "new-email" }, t("account.email.label")), input),
    submit, status.el);
  api<EmailStatus>("GET", "/api/account/email").then(show).catch((error) => status.say(describeError(error), "error"));
  return form;
}

export function accountView(app: App): View {
  const list = h("ul", { class: "devices", "aria-live": "polite" });
  const listStatus = statusLine();

  async function loadDevices(): Promise<void> {
    try {
      const { sessions } = await api<{ sessions: DeviceSession[] }>("GET", "/api/auth/sessions");
      clear(list);
      for (const session of sessions) {
        const name = session.device || t("account.device.unknown");
        const details = [
          t("account.device.seen", { when: formatDateTime(session.last_seen, lang()) }),
          session.remembered ? t("account.device.remembered", { until: formatDateTime(session.expires, lang()) }) : "",
        ].filter(Boolean).join(" · ");
        list.append(h("li", { class: "device", "data-device": session.id },
          h("strong", null, name), session.current ? h("span", { class: "here" }, t("account.device.current")) : null,
          h("p", { class: "muted" }, details),
          session.current ? null : h("button", {
            type: "button", class: "secondary",
            "aria-label": t("account.device.end.label", { device: name }),
            onclick: async () => {
              try {
                await api("DELETE", `/api/auth/sessions/${encodeURIComponent(session.id)}`);
                listStatus.say(t("account.device.ended", { device: name }));
              } catch (error) {
                listStatus.say(describeError(error), "error");
              }
              await loadDevices();
            },
          }, t("account.device.end"))));
      }
    } catch (error) {
      listStatus.say(describeError(error), "error");
    }
  }

  const status = statusLine();
  const [currentField, current] = passwordField("current-password", t("account.password.current"), "current-password");
  const [newField, fresh] = passwordField("new-password", t("activate.password"), "new-password");
  const [confirmField, confirm] = passwordField("confirm-password", t("activate.confirm"), "new-password");
  fresh.setAttribute("aria-describedby", "password-rules");
  const submit = h("button", { type: "submit" }, t("account.password.submit"));
  const form = h("form", {
    class: "card",
    "aria-labelledby": "password-title",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      status.say("");
      if (fresh.value !== confirm.value) {
        status.say(t("activate.mismatch"), "error");
        confirm.focus();
        return;
      }
      submit.disabled = true;
      try {
        await api("POST", "/api/auth/password", { current: current.value, new: fresh.value });
        form.reset();
        status.say(t("account.password.done"));
        await loadDevices();
      } catch (error) {
        status.say(describeError(error), "error");
      } finally {
        submit.disabled = false;
      }
    },
  },
    h("h2", { id: "password-title" }, t("account.password.title")),
    currentField, newField,
    h("p", { id: "password-rules", class: "muted" }, t("activate.rules")),
    confirmField, submit, status.el,
  );

  const el = h("section", { class: "account" },
    h("h1", null, t("account.title")),
    form,
    app.me?.person.profile === "pupil" ? null : emailCard(),
    h("section", { class: "card", "aria-labelledby": "devices-title" },
      h("h2", { id: "devices-title" }, t("account.devices.title")),
      h("p", { class: "muted" }, t("account.devices.intro")),
      list, listStatus.el),
  );
  void loadDevices();
  return { el, title: t("account.title") };
}
