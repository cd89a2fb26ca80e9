// Entry point: the shell (header, navigation, language switch) and routing.

import { api } from "./api";
import { App } from "./app";
import { type Keyed, clear, h, patch } from "./dom";
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

/** The header, redrawn on every live event: in place (dom.patch), so that a
 * click on its links or buttons, or the focus on them, survives the event. */
function renderHeader(): void {
  const me = app.me;
  const notices = me && !charterRequired() ? notificationCentre() : null;
  notices?.update();
  if (!notices) centre?.toggle(false);
  const links: [string, string][] = [];
  if (me && !charterRequired()) {
    links.push(["/", t("nav.home")], ["/new", t("nav.new")]);
    if (app.isModeratorProfile) links.push(["/reports", t("nav.reports")]);
    if (me.is_admin) {
      links.push(["/console", t("nav.console")], ["/audit", t("nav.audit")], ["/words", t("nav.words")],
        ["/settings", t("nav.settings")], ["/school-charter", t("nav.charter")],
        ["/school-notifications", t("nav.notifications")]);
    }
  }
  const tools: Keyed[] = [];
  if (notices) tools.push({ key: "notices", sig: "notices", make: () => notices.button });
  if (me) {
    tools.push(
      { key: "conn", sig: `${lang()}:${app.connection}`,
        make: () => h("span", { class: `conn ${app.connection}`, role: "status", "data-conn": app.connection }, t(`conn.${app.connection}`)) },
      { key: "who", sig: `${lang()}:${me.person.name}:${me.person.profile}`,
        make: () => h("span", { class: "who" }, me.person.name, " · ", t(`profile.${me.person.profile}` as "profile.pupil")) },
    );
    if (!charterRequired()) {
      tools.push({ key: "account", sig: lang(),
        make: () => h("a", { href: "/account", "data-link": true, class: "account-link" }, t("nav.account")) });
    }
  }
  tools.push({ key: "lang", sig: lang(), make: () => h("button", {
    type: "button", class: "secondary", lang: lang() === "fr" ? "en" : "fr",
    "aria-label": t("lang.switch.label"),
    onclick: () => {
      setLang(lang() === "fr" ? "en" : "fr");
      // My notification e-mails and pushes follow (docs/protocol.md).
      if (app.me) void api("PUT", "/api/account/language", { language: lang() }).catch(() => undefined);
      void render();
    },
  }, t("lang.switch")) });
  if (me) {
    tools.push({ key: "logout", sig: lang(), make: () => h("button", {
      type: "button", class: "secondary",
      onclick: async () => {
        // Leaving for the provider's logout page: drawing the login screen
        // meanwhile would race that navigation (its own history entry).
        if (!(await app.logout().catch(() => false))) sessionEnded();
      },
    }, t("logout")) });
  }
  const parts: Keyed[] = [
    { key: "brand", sig: "brand",
      make: () => h("a", { href: "/", "data-link": true, class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), "Préau") },
  ];
  if (links.length) {
    parts.push({ key: "nav", sig: JSON.stringify(links), make: () => h("nav", { "aria-label": "Navigation" },
      links.map(([path, text]) => h("a", { href: path, "data-link": true }, text))) });
  }
  parts.push({ key: "tools", sig: "tools", make: () => h("div", { class: "tools" }), fill: (el) => patch(el, tools) });
  patch(header, parts);
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
    case "doc": return documentView(app, route.doc, go);
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
