// The school admins' console (issue 19): people with search and filters,
// move a pupil, close an account, activation letters (PDF) for a person or a
// class, who has not activated, a new account, and an import read in the
// browser, previewed (created, moved, closed, rejected rows with their
// reasons) before it is applied. The server authorises every call.

import { api, ApiError } from "../api";
import type { App } from "../app";
import { clear, formatDateTime, h } from "../dom";
import { lang, t } from "../i18n";
import { askText, describeError, statusLine } from "../ui";
import type { View } from "../router";

interface Ref { id: string; name: string }
interface ConsolePerson {
  id: string; login: string; name: string; first_name: string; last_name: string; profile: string;
  admin: boolean; email: string | null; classes: Ref[]; groups: Ref[]; children: Ref[]; guardians: Ref[];
  activated: boolean; code_expires: number | null;
}
interface ConsoleClass { id: string; name: string; kind: "class" | "group"; pupils: number; teachers: number; pending: number }
interface Planned { line?: number; external_id: string; name: string; profile: string; classes?: string[]; from?: string[] }
interface Rejected { line: number; field: string; message_fr: string; message_en: string }
interface RuleGroup { id: string; scope: "school" | "class" | "group"; scope_id: string; scope_name: string; profile: string }
interface RuleLink { from: string; to: string; default?: boolean }
interface Rules { groups: RuleGroup[]; links: RuleLink[]; missing_defaults: RuleLink[]; is_default: boolean; parents_may_message: boolean }
interface FileRead { name: string; kind: string; encoding: string; people: number }
interface Preview { encoding: string; files: FileRead[]; created: Planned[]; moved: Planned[]; updated: number; closed: Planned[]; rejected: Rejected[]; refused: boolean }

// The server names the encoding a file was read as in Python's words
// (csv_import.decode_csv): shown as people know them.
const ENCODINGS: Record<string, string> = {
  "cp1252": "Windows-1252", "windows-1252": "Windows-1252",
  "utf-8": "UTF-8", "utf8": "UTF-8", "utf-8-sig": "UTF-8",
  "utf-16": "UTF-16", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16",
  "latin-1": "ISO-8859-1", "iso-8859-1": "ISO-8859-1",
};

/** "Windows-1252" for "cp1252"; several ("cp1252, utf-8") each; unknown as they are. */
function encodingName(encoding: string): string {
  const names = encoding.split(",").map((one) => one.trim()).filter(Boolean)
    .map((one) => ENCODINGS[one.toLowerCase()] ?? one);
  return [...new Set(names)].join(", ");
}

/** POST with a body that is not JSON (a file), or a PDF back: fetch, with
 * the same errors as api(). */
async function raw(path: string, body: BodyInit, type: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: "POST", credentials: "same-origin", body,
      headers: { "content-type": type, "accept-language": lang() },
    });
  } catch {
    throw new ApiError("network", "network error", 0);
  }
  if (!response.ok) {
    const data = await response.json().catch(() => ({})) as { error?: { code?: string; message?: string } };
    throw new ApiError(data.error?.code ?? "internal", data.error?.message ?? `HTTP ${response.status}`, response.status);
  }
  return response;
}

async function downloadLetters(school: string, body: unknown, name: string): Promise<void> {
  const response = await raw(`/api/schools/${school}/letters`, JSON.stringify(body), "application/json");
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** An import previewed but not applied yet, kept while the view is drawn again
 * (a language switch rebuilds it; a file input cannot be given its file back). */
let keptImport: {
  person: string; pending: { body: BodyInit; type: string }; preview: Preview; rollover: boolean;
} | null = null;

export function consoleView(app: App): View {
  const school = encodeURIComponent(app.me?.school.id ?? "");
  const me = app.me?.person.id ?? "";
  const status = statusLine();
  let classes: ConsoleClass[] = [];

  // -- people ---------------------------------------------------------------------
  const search = h("input", { id: "console-search", type: "search", placeholder: t("console.search.hint") });
  const classFilter = h("select", { id: "console-class" });
  const profileFilter = h("select", { id: "console-profile" },
    h("option", { value: "" }, t("console.all")),
    ["pupil", "parent", "teacher", "staff"].map((p) => h("option", { value: p }, t(`profile.${p}` as "profile.pupil"))));
  const pendingOnly = h("input", { id: "console-pending", type: "checkbox" });
  const peopleBody = h("tbody", null);
  const count = h("p", { class: "muted", "aria-live": "polite" });

  async function loadPeople(): Promise<void> {
    const query = new URLSearchParams();
    if (search.value.trim()) query.set("q", search.value.trim());
    if (classFilter.value) query.set("class", classFilter.value);
    if (profileFilter.value) query.set("profile", profileFilter.value);
    if (pendingOnly.checked) query.set("pending", "1");
    try {
      const { people } = await api<{ people: ConsolePerson[] }>("GET", `/api/schools/${school}/people?${query}`);
      clear(peopleBody);
      count.textContent = t("console.count", { n: String(people.length) });
      for (const person of people) peopleBody.append(personRow(person));
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  function personRow(person: ConsolePerson): HTMLElement {
    const links = person.profile === "parent" ? person.children : person.guardians;
    const actions = h("div", { class: "actions" });
    if (person.profile === "pupil") {
      const target = h("select", { "aria-label": t("console.move.to", { name: person.name }) },
        classes.filter((c) => c.kind === "class").map((c) => h("option", { value: c.id, selected: person.classes.some((k) => k.id === c.id) }, c.name)));
      actions.append(target, h("button", {
        type: "button", class: "secondary",
        onclick: async () => {
          try {
            await api("PUT", `/api/schools/${school}/people/${encodeURIComponent(person.id)}/classes`, { classes: [target.value] });
            status.say(t("console.moved", { name: person.name, klass: target.selectedOptions[0]?.textContent ?? "" }));
            await loadAll();
          } catch (error) {
            status.say(describeError(error), "error");
          }
        },
      }, t("console.move")));
    }
    actions.append(h("button", {
      type: "button", class: "secondary",
      "aria-label": t("console.edit.label", { name: person.name }),
      onclick: () => void editPerson(person),
    }, t("console.edit")));
    actions.append(h("button", {
      type: "button", class: "secondary",
      onclick: async () => {
        if (person.activated && !confirm(t("console.letter.confirm", { name: person.name }))) return;
        try {
          await downloadLetters(school, { people: [person.id] }, `activation-${person.login}.pdf`);
          status.say(t("console.letter.done", { name: person.name }));
          await loadPeople();
        } catch (error) {
          status.say(describeError(error), "error");
        }
      },
    }, t("console.letter")));
    if (person.id !== app.me?.person.id) {
      actions.append(h("button", {
        type: "button", class: "danger",
        onclick: async () => {
          const reason = await askText(t("console.close.reason", { name: person.name }));
          if (reason === null) return;
          try {
            await api("POST", `/api/schools/${school}/people/${encodeURIComponent(person.id)}/close`, reason ? { reason } : {});
            status.say(t("console.closed", { name: person.name }));
            await loadAll();
          } catch (error) {
            status.say(describeError(error), "error");
          }
        },
      }, t("console.close")));
    }
    return h("tr", { "data-person": person.id },
      h("td", null, h("strong", null, person.name), person.admin ? ` · ${t("console.admin")}` : ""),
      h("td", null, t(`profile.${person.profile}` as "profile.pupil")),
      h("td", { "data-classes": "" }, person.classes.map((c) => c.name).join(", "),
        person.groups.length ? h("span", { class: "muted" }, ` · ${t("console.groups", { names: person.groups.map((g) => g.name).join(", ") })}`) : null),
      h("td", null, links.map((c) => c.name).join(", ")),
      h("td", null, h("code", null, person.login)),
      h("td", null, person.activated ? t("console.activated")
        : h("span", { class: "pending" }, t("console.pending"),
          person.code_expires ? ` (${t("console.until", { when: formatDateTime(person.code_expires, lang()) })})` : "")),
      h("td", null, actions));
  }

  /** A dialog: names, e-mail address (not a pupil's), admin right, and a
   * parent's children; only what changed is sent. */
  async function editPerson(person: ConsolePerson): Promise<void> {
    const field = (id: string, label: string, control: HTMLElement) =>
      h("div", { class: "field" }, h("label", { for: id }, label), control);
    const first = h("input", { id: "edit-first", value: person.first_name, required: true, maxlength: 100 });
    const last = h("input", { id: "edit-last", value: person.last_name, required: true, maxlength: 100 });
    const mail = h("input", { id: "edit-email", type: "email", value: person.email ?? "", maxlength: 254 });
    const admin = h("input", { id: "edit-admin", type: "checkbox", checked: person.admin });
    let children: HTMLSelectElement | null = null;
    if (person.profile === "parent") {
      const { people: pupils } = await api<{ people: ConsolePerson[] }>("GET", `/api/schools/${school}/people?profile=pupil`);
      children = h("select", { id: "edit-children", multiple: true, size: 8 },
        pupils.map((p) => h("option", { value: p.id, selected: person.children.some((c) => c.id === p.id) },
          `${p.name} (${p.classes.map((c) => c.name).join(", ")})`)));
    }
    const problem = statusLine();
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "edit-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "edit-title" }, t("console.edit.title", { name: person.name })),
        field("edit-first", t("console.new.first"), first),
        field("edit-last", t("console.new.last"), last),
        person.profile === "pupil" ? null : field("edit-email", t("console.edit.email"), mail),
        h("div", { class: "field check" }, admin, h("label", { for: "edit-admin" }, t("console.edit.admin"))),
        children ? field("edit-children", t("console.edit.children"), children) : null,
        problem.el,
        h("div", { class: "actions" },
          h("button", { type: "submit", value: "cancel", class: "secondary", formnovalidate: true }, t("dialog.cancel")),
          h("button", { type: "submit", value: "ok" }, t("dialog.ok"))),
      ));
    dialog.addEventListener("close", () => dialog.remove());
    dialog.querySelector("form")?.addEventListener("submit", async (event: SubmitEvent) => {
      if ((event.submitter as HTMLButtonElement | null)?.value !== "ok") return;
      event.preventDefault();
      const changes: Record<string, unknown> = {};
      if (first.value.trim() !== person.first_name) changes.first_name = first.value.trim();
      if (last.value.trim() !== person.last_name) changes.last_name = last.value.trim();
      if (person.profile !== "pupil" && mail.value.trim() !== (person.email ?? "")) changes.email = mail.value.trim();
      if (admin.checked !== person.admin) changes.admin = admin.checked;
      const path = `/api/schools/${school}/people/${encodeURIComponent(person.id)}`;
      try {
        if (Object.keys(changes).length) await api("PUT", path, changes);
        if (children) {
          const chosen = [...children.selectedOptions].map((o) => o.value);
          const before = person.children.map((c) => c.id);
          if (chosen.length !== before.length || chosen.some((c) => !before.includes(c))) {
            await api("PUT", `${path}/children`, { children: chosen });
          }
        }
        dialog.close();
        status.say(t("console.edited", { name: `${first.value.trim()} ${last.value.trim()}` }));
        await loadAll();
      } catch (error) {
        problem.say(describeError(error), "error");
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    first.focus();
  }

  // -- classes --------------------------------------------------------------------
  const classList = h("ul", { class: "console-classes" });

  async function loadClasses(): Promise<void> {
    try {
      ({ classes } = await api<{ classes: ConsoleClass[] }>("GET", `/api/schools/${school}/classes`));
      const chosen = classFilter.value;
      clear(classFilter);
      classFilter.append(h("option", { value: "" }, t("console.all")),
        ...classes.map((c) => h("option", { value: c.id, selected: c.id === chosen }, c.name)));
      clear(classList);
      for (const klass of classes) {
        classList.append(h("li", { "data-class": klass.name },
          h("strong", null, klass.name), klass.kind === "group" ? ` (${t("console.group")})` : "", " ",
          h("span", { class: "muted" }, t("console.class.counts", {
            pupils: String(klass.pupils), teachers: String(klass.teachers), pending: String(klass.pending) })),
          " ",
          h("button", {
            type: "button", class: "secondary",
            onclick: async () => {
              try {
                await downloadLetters(school, { class: klass.id }, `activation-${klass.name}.pdf`);
                status.say(t("console.letters.done", { klass: klass.name }));
                await loadAll();
              } catch (error) {
                status.say(describeError(error), "error");
              }
            },
          }, t("console.letters", { klass: klass.name }))));
      }
    } catch (error) {
      status.say(describeError(error), "error");
    }
  }

  const className = h("input", { id: "class-name", required: true, maxlength: 40, placeholder: "5eC, Latin…" });
  const classKind = h("select", { id: "class-kind" },
    h("option", { value: "class" }, t("console.kind.class")), h("option", { value: "group" }, t("console.kind.group")));
  const classForm = h("form", {
    class: "filters",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      try {
        const made = await api<{ name: string }>("POST", `/api/schools/${school}/classes`,
          { name: className.value.trim(), kind: classKind.value });
        status.say(t("console.class.created", { name: made.name }));
        className.value = "";
        await loadAll();
      } catch (error) {
        status.say(describeError(error), "error");
      }
    },
  },
    h("div", { class: "field" }, h("label", { for: "class-name" }, t("console.class.new")), className),
    h("div", { class: "field" }, h("label", { for: "class-kind" }, t("console.kind")), classKind),
    h("button", { type: "submit", class: "secondary" }, t("console.class.create")));

  async function loadAll(): Promise<void> {
    await loadClasses();
    await loadPeople();
    await loadRules();  // a new class brings its groups and default rules
  }

  // -- communication rules ----------------------------------------------------------
  // Groups (per profile, school-wide and per class or group) and the directed
  // links between them; the server says which are the defaults.
  const rulesStatus = statusLine();
  const rulesState = h("p", { class: "muted", id: "rules-state" });
  const rulesScope = h("select", { id: "rules-scope" });
  const rulesList = h("ul", { class: "console-rules", id: "rules-list" });
  const missingBox = h("div", { id: "rules-missing" });
  const ruleFrom = h("select", { id: "rule-from" });
  const ruleTo = h("select", { id: "rule-to" });
  let rules: Rules | null = null;

  function groupName(id: string): string {
    const group = rules?.groups.find((g) => g.id === id);
    if (!group) return id;
    const scope = group.scope === "school" ? t("rules.school") : group.scope_name;
    return t(`rules.group.${group.profile}` as "rules.group.pupil", { scope });
  }

  function linkName(link: RuleLink): string {
    return link.from === link.to ? t("rules.between", { group: groupName(link.from) })
      : t("rules.link", { from: groupName(link.from), to: groupName(link.to) });
  }

  function shown(link: RuleLink): boolean {
    const scope = rulesScope.value;
    if (!scope || !rules) return true;
    const scopes = [link.from, link.to].map((id) => rules?.groups.find((g) => g.id === id)?.scope_id);
    return scopes.includes(scope);
  }

  async function changeRule(path: string, link: RuleLink, done: "rules.removed" | "rules.done"): Promise<void> {
    try {
      const { changed } = await api<{ changed: boolean }>("POST", `/api/schools/${school}/rules/${path}`, { from: link.from, to: link.to });
      rulesStatus.say(changed ? t(done, { link: linkName(link) }) : t("rules.unchanged"));
      await loadRules();
    } catch (error) {
      rulesStatus.say(describeError(error), "error");
    }
  }

  function renderRules(): void {
    if (!rules) return;
    clear(rulesList);
    clear(missingBox);
    rulesState.textContent = [rules.is_default ? t("rules.is_default") : t("rules.not_default"),
      t("rules.guardians"), rules.parents_may_message ? t("rules.parents_setting") : ""].filter(Boolean).join(" ");
    const links = rules.links.filter(shown);
    if (!links.length) rulesList.append(h("li", { class: "muted" }, t("rules.none")));
    for (const link of links) {
      const name = linkName(link);
      rulesList.append(h("li", { "data-rule": `${link.from} ${link.to}`, "data-default": String(Boolean(link.default)) },
        h("span", null, name), " ",
        h("span", { class: link.default ? "muted" : "rule-added" }, `(${t(link.default ? "rules.default" : "rules.added")})`), " ",
        h("button", {
          type: "button", class: "secondary", "aria-label": t("rules.remove.label", { link: name }),
          onclick: () => void changeRule("links/remove", link, "rules.removed"),
        }, t("rules.remove"))));
    }
    const missing = rules.missing_defaults.filter(shown);
    if (missing.length) {
      missingBox.append(h("h3", null, `${t("rules.missing")} (${missing.length})`),
        h("ul", { class: "console-rules" }, missing.map((link) => {
          const name = linkName(link);
          return h("li", { "data-missing": `${link.from} ${link.to}` }, h("span", null, name), " ",
            h("button", {
              type: "button", class: "secondary", "aria-label": t("rules.restore.label", { link: name }),
              onclick: () => void changeRule("links", link, "rules.done"),
            }, t("rules.restore")));
        })));
    }
  }

  async function loadRules(): Promise<void> {
    try {
      rules = await api<Rules>("GET", `/api/schools/${school}/rules`);
      const scope = rulesScope.value;
      const scopes = new Map<string, string>();
      for (const group of rules.groups) {
        scopes.set(group.scope_id, group.scope === "school" ? t("rules.filter.school") : group.scope_name);
      }
      clear(rulesScope);
      rulesScope.append(h("option", { value: "" }, t("rules.filter.all")),
        ...[...scopes].map(([id, name]) => h("option", { value: id, selected: id === scope }, name)));
      for (const select of [ruleFrom, ruleTo]) {
        const chosen = select.value;
        clear(select);
        select.append(...rules.groups.map((g) => h("option", { value: g.id, selected: g.id === chosen }, groupName(g.id))));
      }
      renderRules();
    } catch (error) {
      rulesStatus.say(describeError(error), "error");
    }
  }
  rulesScope.addEventListener("change", renderRules);

  const rulesCard = h("section", { class: "card", "aria-labelledby": "rules-title" },
    h("h2", { id: "rules-title" }, t("rules.title")),
    h("p", { class: "muted" }, t("rules.intro")),
    rulesState, rulesStatus.el,
    h("div", { class: "filters" },
      h("div", { class: "field" }, h("label", { for: "rules-scope" }, t("rules.filter")), rulesScope)),
    rulesList, missingBox,
    h("form", {
      class: "filters",
      onsubmit: (event: Event) => {
        event.preventDefault();
        void changeRule("links", { from: ruleFrom.value, to: ruleTo.value }, "rules.done");
      },
    },
      h("div", { class: "field" }, h("label", { for: "rule-from" }, t("rules.from")), ruleFrom),
      h("div", { class: "field" }, h("label", { for: "rule-to" }, t("rules.to")), ruleTo),
      h("button", { type: "submit", class: "secondary" }, t("rules.add"))),
    h("div", { class: "actions" }, h("button", {
      type: "button", class: "danger", id: "rules-reset",
      onclick: async () => {
        if (!confirm(t("rules.reset.confirm"))) return;
        try {
          const done = await api<{ added: number; removed: number }>("POST", `/api/schools/${school}/rules/reset`, {});
          rulesStatus.say(t("rules.reset.done", { added: String(done.added), removed: String(done.removed) }));
          await loadRules();
        } catch (error) {
          rulesStatus.say(describeError(error), "error");
        }
      },
    }, t("rules.reset"))));

  // -- import ---------------------------------------------------------------------
  const file = h("input", { id: "console-file", type: "file", multiple: true, accept: ".csv,.xml,text/csv,text/plain,text/xml,application/xml" });
  const rollover = h("input", { id: "console-rollover", type: "checkbox" });
  const previewBox = h("div", { class: "preview", "aria-live": "polite" });
  const importStatus = statusLine();
  // What was previewed, sent again as is to apply it: one file's bytes, or
  // several files as JSON (base64), read by the server as one import.
  let pending: { body: BodyInit; type: string } | null = null;

  function base64(buffer: ArrayBuffer): string {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }

  async function chosenFiles(files: File[]): Promise<{ body: BodyInit; type: string }> {
    if (files.length === 1) return { body: await files[0].arrayBuffer(), type: "text/csv" };
    const parts = [];
    for (const one of files) parts.push({ name: one.name, data: base64(await one.arrayBuffer()) });
    return { body: JSON.stringify({ files: parts }), type: "application/json" };
  }

  function list(title: string, rows: HTMLElement[], key: string): HTMLElement {
    return h("section", { class: "card", "data-preview": key },
      h("h3", null, `${title} (${rows.length})`),
      rows.length ? h("ul", null, rows) : h("p", { class: "muted" }, t("console.import.none")));
  }

  function showPreview(preview: Preview): void {
    clear(previewBox);
    const who = (p: Planned) => `${p.name} (${t(`profile.${p.profile}` as "profile.pupil")}${p.classes?.length ? `, ${p.classes.join(", ")}` : ""})`;
    previewBox.append(
      preview.files.length
        ? h("div", null,
          h("p", null, t("console.import.readSeveral", { n: String(preview.files.length), updated: String(preview.updated) })),
          h("ul", { "data-preview": "files" }, preview.files.map((f) => h("li", null, t("console.import.fileRead", {
            name: f.name, kind: t(`console.import.kind.${f.kind}` as "console.import.kind.csv"),
            encoding: f.encoding ? `, ${encodingName(f.encoding)}` : "", people: String(f.people) })))))
        : h("p", null, t("console.import.read", { encoding: encodingName(preview.encoding), updated: String(preview.updated) })),
      list(t("console.import.created"), preview.created.map((p) => h("li", null, who(p))), "created"),
      list(t("console.import.moved"), preview.moved.map((p) => h("li", null,
        t("console.import.move", { name: p.name, from: (p.from ?? []).join(", ") || "—", to: (p.classes ?? []).join(", ") }))), "moved"),
      list(t("console.import.closed"), preview.closed.map((p) => h("li", null, who(p))), "closed"),
      list(t("console.import.rejected"), preview.rejected.map((r) => h("li", null, lang() === "fr" ? r.message_fr : r.message_en)), "rejected"),
    );
    if (preview.refused) {
      previewBox.append(h("p", { class: "status error" }, t("console.import.refused")));
      return;
    }
    previewBox.append(h("button", {
      type: "button",
      onclick: async (event: Event) => {
        const button = event.currentTarget as HTMLButtonElement;
        if (!pending) return;
        button.disabled = true;
        try {
          const response = await raw(`/api/schools/${school}/import?rollover=${rollover.checked ? 1 : 0}`, pending.body, pending.type);
          const done = await response.json() as { created: number; updated: number; closed: number; rejected: number };
          importStatus.say(t("console.import.done", {
            created: String(done.created), updated: String(done.updated), closed: String(done.closed), rejected: String(done.rejected) }));
          clear(previewBox);
          pending = null;
          keptImport = null;
          await loadAll();
        } catch (error) {
          importStatus.say(describeError(error), "error");
          button.disabled = false;
        }
      },
    }, t("console.import.apply")));
  }

  const importForm = h("form", {
    class: "card",
    "aria-labelledby": "import-title",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      importStatus.say("");
      const chosen = [...(file.files ?? [])];
      if (!chosen.length) return;
      keptImport = null;
      try {
        pending = await chosenFiles(chosen);
        const response = await raw(`/api/schools/${school}/import/preview?rollover=${rollover.checked ? 1 : 0}`, pending.body, pending.type);
        const preview = await response.json() as Preview;
        showPreview(preview);
        keptImport = { person: me, pending, preview, rollover: rollover.checked };
      } catch (error) {
        importStatus.say(describeError(error), "error");
      }
    },
  },
    h("h2", { id: "import-title" }, t("console.import.title")),
    h("p", { class: "muted" }, t("console.import.intro")),
    h("div", { class: "field" }, h("label", { for: "console-file" }, t("console.import.file")), file),
    h("div", { class: "field check" }, rollover, h("label", { for: "console-rollover" }, t("console.import.rollover"))),
    h("button", { type: "submit" }, t("console.import.preview")),
    importStatus.el, previewBox,
  );

  if (keptImport && keptImport.person === me) {
    // Drawn again (the language changed): the preview, in the new language,
    // and its file's bytes for "apply".
    pending = keptImport.pending;
    rollover.checked = keptImport.rollover;
    showPreview(keptImport.preview);
  } else {
    keptImport = null;  // another person's, in this tab: never shown
  }

  // -- a new account ----------------------------------------------------------------
  const newProfile = h("select", { id: "new-profile" },
    ["pupil", "parent", "teacher", "staff"].map((p) => h("option", { value: p }, t(`profile.${p}` as "profile.pupil"))));
  const newFirst = h("input", { id: "new-first", required: true, maxlength: 100 });
  const newLast = h("input", { id: "new-last", required: true, maxlength: 100 });
  const newClass = h("input", { id: "new-class", placeholder: "6eA" });
  const newStatus = statusLine();
  const newForm = h("form", {
    class: "card",
    "aria-labelledby": "new-title",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      const klass = classes.find((c) => c.name === newClass.value.trim());
      try {
        const made = await api<{ login: string; code: string }>("POST", `/api/schools/${school}/people`, {
          profile: newProfile.value, first_name: newFirst.value.trim(), last_name: newLast.value.trim(),
          classes: klass ? [klass.id] : [],
        });
        newStatus.say(t("console.new.done", { login: made.login, code: made.code }));
        newForm.reset();
        await loadAll();
      } catch (error) {
        newStatus.say(describeError(error), "error");
      }
    },
  },
    h("h2", { id: "new-title" }, t("console.new.title")),
    h("div", { class: "field" }, h("label", { for: "new-profile" }, t("console.new.profile")), newProfile),
    h("div", { class: "field" }, h("label", { for: "new-first" }, t("console.new.first")), newFirst),
    h("div", { class: "field" }, h("label", { for: "new-last" }, t("console.new.last")), newLast),
    h("div", { class: "field" }, h("label", { for: "new-class" }, t("console.new.class")), newClass),
    h("button", { type: "submit" }, t("console.new.submit")), newStatus.el,
  );

  let typing: number | undefined;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = window.setTimeout(() => void loadPeople(), 250);
  });
  for (const control of [classFilter, profileFilter, pendingOnly]) control.addEventListener("change", () => void loadPeople());

  const headers = ["console.col.name", "console.col.profile", "console.col.classes", "console.col.links",
    "console.col.login", "console.col.state", "console.col.actions"] as const;
  const el = h("section", { class: "console" },
    h("h1", null, t("console.title")), status.el,
    h("section", { class: "card", "aria-labelledby": "classes-title" },
      h("h2", { id: "classes-title" }, t("console.classes.title")), classList, classForm),
    h("section", { class: "card", "aria-labelledby": "people-title" },
      h("h2", { id: "people-title" }, t("console.people.title")),
      h("div", { class: "filters" },
        h("div", { class: "field" }, h("label", { for: "console-search" }, t("console.search")), search),
        h("div", { class: "field" }, h("label", { for: "console-class" }, t("console.class")), classFilter),
        h("div", { class: "field" }, h("label", { for: "console-profile" }, t("console.profile")), profileFilter),
        h("div", { class: "field check" }, pendingOnly, h("label", { for: "console-pending" }, t("console.pendingOnly")))),
      count,
      h("div", { class: "table-wrap" }, h("table", { class: "audit people" },
        h("thead", null, h("tr", null, headers.map((k) => h("th", { scope: "col" }, t(k))))), peopleBody))),
    rulesCard, importForm, newForm,
  );
  void loadAll();
  return { el, title: t("console.title") };
}
