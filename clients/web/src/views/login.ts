// Login, and the first login: activation code + choosing a password.

import { api } from "../api";
import { h } from "../dom";
import { t } from "../i18n";
import { describeError, statusLine } from "../ui";
import type { View } from "../router";

function field(id: string, label: string, attrs: Record<string, unknown>): [HTMLElement, HTMLInputElement] {
  const input = h("input", { id, name: id, required: true, ...attrs });
  return [h("div", { class: "field" }, h("label", { for: id }, label), input), input];
}

export function loginView(_go: (path: string) => void, loggedIn: () => Promise<void>): View {
  const status = statusLine();
  const [loginField, login] = field("login", t("login.login"), { autocomplete: "username", autocapitalize: "none" });
  const [passwordField, password] = field("password", t("login.password"), { type: "password", autocomplete: "current-password" });
  const remember = h("input", { id: "remember", name: "remember", type: "checkbox", "aria-describedby": "remember-hint" });
  const rememberField = h("div", { class: "field check" },
    remember, h("label", { for: "remember" }, t("login.remember")),
    h("p", { id: "remember-hint", class: "muted" }, t("login.remember.hint")));
  const submit = h("button", { type: "submit" }, t("login.submit"));
  const form = h("form", {
    class: "card narrow",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      submit.disabled = true;
      status.say("");
      try {
        await api("POST", "/api/auth/login", {
          login: login.value.trim(), password: password.value, kind: "cookie", remember: remember.checked,
        });
        await loggedIn();
      } catch (error) {
        status.say(describeError(error), "error");
        submit.disabled = false;
      }
    },
  },
    h("h1", null, t("login.title")),
    loginField, passwordField, rememberField, submit, status.el,
    h("p", null, h("a", { href: "/activate", "data-link": true }, t("login.first"))),
    h("p", null, h("a", { href: "/forgot", "data-link": true, class: "forgot" }, t("login.forgot"))),
  );
  // Single sign-on: one button per identity provider the deployment offers
  // (GET /api/auth/sso); the browser goes to the provider and comes back
  // logged in (or to a page that says, in French, why not).
  const sso = h("div", { class: "sso", hidden: true });
  form.insertBefore(sso, loginField);
  void api<{ providers: { id: string; name: string }[] }>("GET", "/api/auth/sso").then(({ providers }) => {
    if (providers.length === 0) return;
    for (const provider of providers) {
      sso.append(h("button", {
        type: "button", class: "sso-provider", "data-provider": provider.id,
        onclick: () => {
          const query = remember.checked ? "?remember=1" : "";
          window.location.assign(`/api/auth/sso/${encodeURIComponent(provider.id)}/start${query}`);
        },
      }, t("login.sso", { name: provider.name })));
    }
    sso.append(h("p", { class: "muted" }, t("login.or")));
    sso.hidden = false;
  }).catch(() => undefined);  // no providers listed: the password form alone
  queueMicrotask(() => login.focus());
  return { el: form, title: t("login.title") };
}

export function activateView(_go: (path: string) => void, loggedIn: () => Promise<void>): View {
  const status = statusLine();
  const [loginField, login] = field("login", t("login.login"), { autocomplete: "username", autocapitalize: "none" });
  const [codeField, code] = field("code", t("activate.code"), { autocomplete: "one-time-code", autocapitalize: "characters", placeholder: "K7QX-M2PD-9HRT" });
  const [passwordField, password] = field("new-password", t("activate.password"), { type: "password", autocomplete: "new-password", minlength: 8, "aria-describedby": "rules" });
  const [confirmField, confirm] = field("confirm-password", t("activate.confirm"), { type: "password", autocomplete: "new-password", minlength: 8 });
  const submit = h("button", { type: "submit" }, t("activate.submit"));
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
        await api("POST", "/api/auth/activate", {
          login: login.value.trim(), code: code.value.trim(), password: password.value, kind: "cookie",
        });
        await loggedIn();
      } catch (error) {
        status.say(describeError(error), "error");
        submit.disabled = false;
      }
    },
  },
    h("h1", null, t("activate.title")),
    h("p", null, t("activate.intro")),
    loginField, codeField, passwordField,
    h("p", { id: "rules", class: "hint" }, t("activate.rules")),
    confirmField, submit, status.el,
    h("p", null, h("a", { href: "/login", "data-link": true }, t("activate.back"))),
  );
  // The browser's own check (a password too short) blocks the submit before
  // our handler: the server's answer to an earlier try no longer applies.
  form.addEventListener("invalid", () => status.say(""), true);
  queueMicrotask(() => login.focus());
  return { el: form, title: t("activate.title") };
}
