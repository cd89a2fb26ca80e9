// Entry point: the shell (header, navigation, language switch) and routing.

import { api } from "./api";
import { App } from "./app";
import { append, clear, h } from "./dom";
import { lang, setLang, t } from "./i18n";
import { parse, Route, View } from "./router";
import { homeView } from "./views/home";
import { activateView, loginView } from "./views/login";
import { callView } from "./views/call";
import { CharterStatus, charterAdminView, charterView } from "./views/charter";
import { accountView } from "./views/account";
import { consoleView } from "./views/console";
import { forgotView, recoveryView } from "./views/recovery";
import { documentView } from "./views/document";
import { moodBoardView, youngHomeView } from "./views/mood";
import { NotificationCentre, preferencesView, schoolNotificationsView } from "./views/notifications";
import { roomView } from "./views/room";
import { auditView, newConversationView, reportsView, settingsView, wordsView } from "./views/school";

const root = document.getElementById("app")!;
let app = new App(sessionEnded);
let view: View | null = null;
let unlisten: (() => void) | null = null;
const header = h("header", { class: "top" });
const main = h("main", { id: "main", tabindex: -1 });
// The notification button and panel: one per app (kept across header redraws,
// so the focus stays on the button while events change its count).
let centre: NotificationCentre | null = null;
let centreApp: App | null = null;

function notificationCentre(): NotificationCentre {
  if (!centre || centreApp !== app) {
    centre?.panel.remove();
    centre = new NotificationCentre(app, go);
    centreApp = app;
    header.after(centre.panel);
  }
  return centre;
}

function go(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  void render();
}

function sessionEnded(): void {
  app = new App(sessionEnded);
  go("/login", true);
}

async function loggedIn(): Promise<void> {
  app = new App(sessionEnded);
  await app.load();
  go("/", true);
}

/** The school's charter of use must be accepted before anything else (GET /api/me says so). */
function charterRequired(): boolean {
  return Boolean((app.me as CharterStatus | null)?.charter_required);
}

/** Accepted: start again from who I am, now with my rooms and the live socket. */
async function charterAccepted(): Promise<void> {
  app.reset();
  await loggedIn();
}

function renderHeader(): void {
  // The notification button is kept across redraws, but taking it out of the
  // header blurs it: a live event redrawing the header must not take the
  // focus away from someone who is on it (a keyboard or screen-reader user).
  const focused = centre && document.activeElement === centre.button ? centre.button : null;
  clear(header);
  const me = app.me;
  const nav: HTMLElement[] = [];
  const notices = me && !charterRequired() ? notificationCentre() : null;
  notices?.update();
  if (!notices) centre?.toggle(false);
  if (me && !charterRequired()) {
    const link = (path: string, text: string) => h("a", { href: path, "data-link": true }, text);
    nav.push(link("/", t("nav.home")), link("/new", t("nav.new")));
    if (app.isModeratorProfile) nav.push(link("/reports", t("nav.reports")));
    if (me.is_admin) {
      nav.push(link("/console", t("nav.console")), link("/audit", t("nav.audit")), link("/words", t("nav.words")), link("/settings", t("nav.settings")),
        link("/school-charter", t("nav.charter")), link("/school-notifications", t("nav.notifications")));
    }
  }
  append(header, [
    h("a", { href: "/", "data-link": true, class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), "Préau"),
    me && !charterRequired() ? h("nav", { "aria-label": "Navigation" }, nav) : null,
    h("div", { class: "tools" },
      notices ? notices.button : null,
      me ? h("span", { class: `conn ${app.connection}`, role: "status", "data-conn": app.connection }, t(`conn.${app.connection}`)) : null,
      me ? h("span", { class: "who" }, me.person.name, " · ", t(`profile.${me.person.profile}` as "profile.pupil")) : null,
      me && !charterRequired() ? h("a", { href: "/account", "data-link": true, class: "account-link" }, t("nav.account")) : null,
      h("button", {
        type: "button", class: "secondary", lang: lang() === "fr" ? "en" : "fr",
        "aria-label": t("lang.switch.label"),
        onclick: () => {
          setLang(lang() === "fr" ? "en" : "fr");
          // My notification e-mails and pushes follow (docs/protocol.md).
          if (app.me) void api("PUT", "/api/account/language", { language: lang() }).catch(() => undefined);
          void render();
        },
      }, t("lang.switch")),
      me ? h("button", {
        type: "button", class: "secondary",
        onclick: async () => {
          // Leaving for the provider's logout page: drawing the login screen
          // meanwhile would race that navigation (its own history entry).
          if (!(await app.logout().catch(() => false))) sessionEnded();
        },
      }, t("logout")) : null,
    ),
  ]);
  if (focused?.isConnected) focused.focus();
}

function routeView(route: Route): View {
  switch (route.name) {
    case "login": return loginView(go, loggedIn);
    case "activate": return activateView(go, loggedIn);
    case "forgot": return forgotView();
    case "recovery": return recoveryView(go);
    case "home": return app.young && app.mood ? youngHomeView(app, app.mood) : homeView(app, go);
    case "mood": return moodBoardView(app, route.klass);
    case "room": return roomView(app, route.room, go);
    case "doc": return documentView(app, route.doc);
    case "call": return callView(app, route.call);
    case "new": return newConversationView(app, go);
    case "reports": return reportsView(app);
    case "audit": return auditView(app);
    case "words": return wordsView(app);
    case "settings": return settingsView(app);
    case "schoolCharter": return charterAdminView(app);
    case "schoolNotifications": return schoolNotificationsView(app);
    case "account": return accountView(app);
    case "console": return consoleView(app);
    case "notifications": return preferencesView();
    default: return { el: h("p", null, t("error.not_found")), title: t("error.not_found") };
  }
}

// Screens shown without a session.
const PUBLIC_ROUTES = new Set<Route["name"]>(["login", "activate", "forgot", "recovery"]);

let booted = false;

async function render(): Promise<void> {
  const route = parse(location.pathname);
  if (!booted) {
    booted = true;
    if (!PUBLIC_ROUTES.has(route.name)) {
      const ok = await app.load().catch(() => false);
      if (!ok) {
        history.replaceState(null, "", "/login");
        return render();
      }
    }
  }
  if (!app.me && !PUBLIC_ROUTES.has(route.name)) {
    const ok = await app.load().catch(() => false);
    if (!ok) {
      history.replaceState(null, "", "/login");
      return render();
    }
  }
  if (route.name === "home" && app.me) void app.refreshRooms().catch(() => undefined);
  view?.destroy?.();
  unlisten?.();
  // The charter of use comes before anything else (and again when it changes).
  const charter = charterRequired();
  view = charter ? charterView(charterAccepted) : routeView(route);
  const current = view;
  const offCharter = app.on("charter.required", () => {
    // A new version: nothing works until it is accepted.
    if (app.me) (app.me as CharterStatus).charter_required = true;
  });
  const offChange = app.onChange(() => {
    if (charterRequired() !== charter) {
      void render();
      return;
    }
    renderHeader();
    current.update?.();
    showUnreadInTitle();
  });
  unlisten = () => {
    offCharter();
    offChange();
  };
  renderHeader();
  clear(main);
  main.append(view.el);
  document.title = `${view.title} · Préau`;
  showUnreadInTitle();
  const skip = document.querySelector<HTMLAnchorElement>("a.skip");
  if (skip) skip.textContent = t("skip");
  root.setAttribute("data-route", charter ? "charter" : route.name);
}

/** "(3) 6eA · Préau": the unread count of every room, in the tab's title. */
function showUnreadInTitle(): void {
  let unread = 0;
  for (const room of app.rooms.values()) unread += room.unread;
  const base = document.title.replace(/^\(\d+\) /, "");
  const wanted = unread ? `(${unread}) ${base}` : base;
  if (document.title !== wanted) document.title = wanted;
}

document.addEventListener("click", (event) => {
  const target = (event.target as Element).closest("a[data-link]");
  if (!target || event.defaultPrevented || (event as MouseEvent).ctrlKey || (event as MouseEvent).metaKey) return;
  event.preventDefault();
  go(target.getAttribute("href")!);
  main.focus({ preventScroll: true });
});
window.addEventListener("popstate", () => void render());
document.addEventListener("visibilitychange", () => app.changed());

clear(root);
root.append(header, main);
// For the browser tests and curious users: drop the socket as a network would.
(window as unknown as { preau: { drop: () => void } }).preau = { drop: () => app.dropConnection() };
void render();

// The installable app: its worker shows a French page when the network is gone.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => undefined); // best effort (e.g. no https)
}
