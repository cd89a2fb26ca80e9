// History-API routes; the server answers index.html for any of these paths.

export interface View {
  el: HTMLElement;
  title: string;
  update?: () => void;
  destroy?: () => void;
}

export type Route =
  | { name: "login" }
  | { name: "activate" }
  | { name: "forgot" }
  | { name: "recovery" }
  | { name: "home" }
  | { name: "room"; room: string }
  | { name: "doc"; doc: string }
  | { name: "call"; call: string }
  | { name: "mood"; klass: string }
  | { name: "new" }
  | { name: "reports" }
  | { name: "audit" }
  | { name: "words" }
  | { name: "settings" }
  | { name: "schoolCharter" }
  | { name: "schoolNotifications" }
  | { name: "account" }
  | { name: "console" }
  | { name: "notifications" }
  | { name: "missing" };

export function parse(path: string): Route {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { name: "home" };
  if (parts.length === 2 && parts[0] === "room") return { name: "room", room: parts[1] };
  if (parts.length === 2 && parts[0] === "doc") return { name: "doc", doc: parts[1] };
  if (parts.length === 2 && parts[0] === "call") return { name: "call", call: parts[1] };
  if (parts.length === 1 && parts[0] === "school-charter") return { name: "schoolCharter" };
  if (parts.length === 1 && parts[0] === "school-notifications") return { name: "schoolNotifications" };
  if (parts.length === 2 && parts[0] === "mood") return { name: "mood", klass: parts[1] };
  if (parts.length === 1) {
    const name = parts[0];
    if (["login", "activate", "forgot", "recovery", "new", "reports", "audit", "words", "settings", "account", "notifications", "console"].includes(name)) {
      return { name } as Route;
    }
  }
  return { name: "missing" };
}
