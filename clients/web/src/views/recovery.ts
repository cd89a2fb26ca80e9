// "Mot de passe oublié ?": ask for a link by e-mail (adults with an address;
// the answer is the same whatever the login), then, from the link
// (/recovery#token: the token never reaches a server log), choose a new
// password. Pupils get a new activation code from their teacher. Issue 19.

import { api } from "../api";
import { h } from "../dom";
import { t } from "../i18n";
import { describeError, statusLine } from "../ui";
import type { View } from "../router";

function input(id: string, label: string, attrs: Record<string, unknown>): [HTMLElement, HTMLInputElement] {
  const el = h("input", { id, name: id, required: true, ...attrs });
  return [h("div", { class: "field" }, h("label", { for: id }, label), el), el];
}

export function forgotView(): View {
  const status = statusLine();
  const [loginField, login] = input("login", t("login.login"), { autocomplete: "username", autocapitalize: "none" });
  const submit = h("button", { type: "submit" }, t("forgot.submit"));
  const form = h("form", {
    class: "card narrow",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      submit.disabled = true;
      status.say("");
      try {
        await api("POST", "/api/auth/recovery", { login: login.value.trim() });
        status.say(t("forgot.sent"));
      } catch (error) {
        status.say(describeError(error), "error");
      } finally {
        submit.disabled = false;
      }
    },
  },
    h("h1", null, t("login.forgot")),
    h("p", null, t("forgot.intro")),
    loginField, submit, status.el,
    h("p", { class: "muted" }, t("login.forgot.how")),
    h("p", null, h("a", { href: "/login", "data-link": true }, t("activate.back"))),
  );
  queueMicrotask(() => login.focus());
  return { el: form, title: t("login.forgot") };
}

export function recoveryView(go: (path: string) => void): View {
  const token = location.hash.slice(1);
  const status = statusLine();
  const [passwordField, password] = input("new-password", t("activate.password"), { type: "password", autocomplete: "new-password", minlength: 8, "aria-describedby": "rules" });
  const [confirmField, confirm] = input("confirm-password", t("activate.confirm"), { type: "password", autocomplete: "new-password", minlength: 8 });
  const submit = h("button", { type: "submit" }, t("recovery.submit"));
  const form = h("form", {
    class: "card narrow",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      status.say("");
      if (password.value !== confirm.value) {
        status.say(t("activate.mismatch"), "error");
        confirm.focus();
        return;
      }
      submit.disabled = true;
      try {
        await api("POST", "/api/auth/recovery/reset", { token, password: password.value });
        history.replaceState(null, "", "/recovery"); // the link is spent: out of the address bar
        status.say(t("recovery.done"));
        form.querySelectorAll("input, button").forEach((el) => ((el as HTMLInputElement).disabled = true));
        setTimeout(() => go("/login"), 1500);
      } catch (error) {
        status.say(describeError(error), "error");
        submit.disabled = false;
      }
    },
  },
    h("h1", null, t("recovery.title")),
    passwordField,
    h("p", { id: "rules", class: "hint" }, t("activate.rules")),
    confirmField, submit, status.el,
    h("p", null, h("a", { href: "/forgot", "data-link": true }, t("recovery.again"))),
  );
  if (!token) {
    status.say(t("recovery.bad"), "error");
    submit.disabled = true;
  } else {
    void api<{ usable: boolean }>("POST", "/api/auth/recovery/check", { token }).then(({ usable }) => {
      if (!usable) {
        status.say(t("recovery.bad"), "error");
        submit.disabled = true;
      }
    }).catch(() => undefined);
  }
  queueMicrotask(() => password.focus());
  return { el: form, title: t("recovery.title") };
}
