// A shared document: the live editor (loaded on demand), who else is in it,
// read-only when locked or when I only read it, and for its teacher: lock,
// versions and restore, deletion.

import { api, ApiError } from "../api";
import type { App } from "../app";
import { clear, formatTime, h } from "../dom";
import type { EditorHandle } from "../editor";
import { lang, t } from "../i18n";
import type { View } from "../router";
import { askText, describeError, statusLine } from "../ui";

export interface DocumentMeta {
  id: string;
  class_id: string;
  title: string;
  kind: string;
  locked: boolean;
  role: "moderator" | "editor" | "reader";
  access: "write" | "read";
  collab: string;
  created_ms: number;
}

interface Version {
  id: string;
  name: string;
  created_by: string;
  created_ms: number;
}

/** Ask, then delete the document for good (its teachers: role "moderator");
 * whether it was deleted. Errors are thrown to the caller. */
export async function deleteDocument(doc: { id: string; title: string }): Promise<boolean> {
  if (!confirm(t("docs.deleteConfirm", { title: doc.title }))) return false;
  await api("DELETE", `/api/documents/${encodeURIComponent(doc.id)}`);
  return true;
}

export function documentView(app: App, id: string, go: (path: string) => void): View {
  const status = statusLine();
  const title = h("h1", null, "…");
  const notice = h("p", { class: "notice", hidden: true });
  const people = h("p", { class: "online", "aria-live": "polite" });
  const state = h("span", { class: "doc-state", role: "status" }, t("docs.connecting"));
  let editorHost = h("div", { class: "editor-host" });
  const frame = h("div", { class: "editor-frame" }, editorHost);
  const tools = h("aside", { class: "doc-tools", hidden: true });
  const el = h("section", { class: "doc-view" },
    h("div", { class: "doc-main" },
      h("header", { class: "room-head" },
        h("a", { href: "/", "data-link": true, class: "back" }, h("span", { "aria-hidden": "true" }, "← "), t("room.back")),
        title, state,
      ),
      people, notice, status.el,
      frame,
    ),
    tools,
  );
  let editor: EditorHandle | null = null;
  let meta: DocumentMeta | null = null;
  let destroyed = false;
  let poll = 0;
  let stopChanges = (): void => undefined;

  async function loadMeta(forceTools = false): Promise<void> {
    const before = meta?.access;
    const wasLocked = meta?.locked;
    meta = await api<DocumentMeta>("GET", `/api/documents/${encodeURIComponent(id)}`);
    if (before === "write" && meta.access === "read" && editor) {
      // Edits typed just before the lock were refused by the server: start
      // again from the server's copy rather than show text nobody else has.
      await restartEditor();
    }
    title.textContent = meta.title;
    document.title = `${meta.title} · Préau`;
    const readOnly = meta.access !== "write";
    notice.hidden = !readOnly;
    notice.textContent = meta.locked ? t("docs.readonlyLocked") : t("docs.readonlyRole");
    editor?.setReadOnly(readOnly);
    // Redraw the teacher's tools only when they change: a redraw every poll
    // would steal the keyboard focus.
    if (meta.role === "moderator" && (forceTools || wasLocked !== meta.locked)) await renderTools();
  }

  async function renderTools(): Promise<void> {
    if (!meta) return;
    const m = meta;
    const { versions } = await api<{ versions: Version[] }>(
      "GET", `/api/documents/${encodeURIComponent(id)}/versions`);
    clear(tools);
    tools.hidden = false;
    const act = (fn: () => Promise<unknown>, done?: string) => async () => {
      try {
        await fn();
        if (done) status.say(done);
        await loadMeta(true);
      } catch (error) {
        status.say(describeError(error), "error");
      }
    };
    tools.append(
      h("button", {
        type: "button", class: "secondary",
        onclick: act(() => api("POST", `/api/documents/${encodeURIComponent(id)}/${m.locked ? "unlock" : "lock"}`)),
      }, m.locked ? t("docs.unlock") : t("docs.lock")),
      h("h2", null, t("docs.versions")),
      h("button", {
        type: "button",
        onclick: async () => {
          const name = await askText(t("docs.versionName"));
          if (!name) return;
          await act(() => api("POST", `/api/documents/${encodeURIComponent(id)}/versions`, { name }), t("docs.saved"))();
        },
      }, t("docs.saveVersion")),
      versions.length
        ? h("ul", { class: "versions" }, versions.map((v) => h("li", null,
            h("span", null, v.name, " ", h("span", { class: "muted" }, formatTime(v.created_ms, lang()))),
            h("button", {
              type: "button", class: "link", "aria-label": `${t("docs.restore")} ${v.name}`,
              onclick: act(() => api("POST",
                `/api/documents/${encodeURIComponent(id)}/versions/${encodeURIComponent(v.id)}/restore`), t("docs.restored")),
            }, t("docs.restore")),
          )))
        : h("p", { class: "muted" }, t("docs.noVersions")),
      h("button", {
        type: "button", class: "danger", id: "doc-delete",
        onclick: async () => {
          try {
            if (!(await deleteDocument(m))) return;
            go("/");
          } catch (error) {
            status.say(describeError(error), "error");
          }
        },
      }, t("docs.delete")),
    );
  }

  /** The document went (deleted, or my access did): no editor left to type into. */
  function gone(): void {
    editor?.destroy();
    editor = null;
    window.clearInterval(poll);
    stopChanges();
    meta = null;
    title.textContent = t("docs.unavailable");
    document.title = `${title.textContent} · Préau`;
    state.hidden = true;
    frame.hidden = true;
    notice.hidden = true;
    tools.hidden = true;
    people.textContent = "";
    status.say(t("docs.gone"), "error");
  }

  /** Re-read the rights; a not_found now means the document went. */
  function refresh(): void {
    loadMeta().catch((error: unknown) => {
      if (error instanceof ApiError && error.code === "not_found" && !destroyed) gone();
    });
  }

  async function open(): Promise<void> {
    try {
      await loadMeta();
    } catch (error) {
      // Not connecting any more. Another class's document and one that does
      // not exist get the same answer (not_found): the same words for both.
      const closed = error instanceof ApiError && (error.code === "not_found" || error.code === "forbidden");
      title.textContent = closed ? t("docs.unavailable") : t("docs.title");
      document.title = `${title.textContent} · Préau`;
      state.hidden = true;
      state.textContent = "";
      frame.hidden = true;
      status.say(closed ? t("docs.notOpen") : describeError(error), "error");
      return;
    }
    await startEditor();
    // The collab protocol has no "your rights changed" a stock provider
    // exposes: the server says it over /ws (document.changed) and the page
    // re-reads them; a slow poll only covers a lost event.
    stopChanges = app.on("document.changed", (frame) => {
      if (frame.document === id) refresh();
    });
    poll = window.setInterval(refresh, 60000);
  }

  async function restartEditor(): Promise<void> {
    editor?.destroy();
    editor = null;
    clear(frame);
    editorHost = h("div", { class: "editor-host" });
    frame.append(editorHost);
    await startEditor();
  }

  async function startEditor(): Promise<void> {
    const { openEditor } = await import("../editor");
    if (destroyed || !meta || !app.me) return;
    editor = openEditor(editorHost, t("docs.editor"), {
      bold: t("docs.bold"), italic: t("docs.italic"), underline: t("docs.underline"),
      "list.ordered": t("docs.ordered"), "list.bullet": t("docs.bullet"), clean: t("docs.clean"),
      header: t("docs.heading"),
    }, meta.collab,
      { id: app.me.person.id, name: app.me.person.name }, meta.access !== "write");
    editor.onPeople((names) => {
      people.textContent = names.length ? t("docs.people", { names: names.join(", ") }) : t("docs.alone");
    });
    editor.onRefused(() => {
      // A change of ours was refused (a lock, too large): this copy differs
      // from the document for good. A new copy from the server replaces it.
      status.say(t("docs.refused"), "error");
      void restartEditor();
    });
    editor.onStatus((connected, synced) => {
      state.textContent = connected && synced ? t("docs.synced") : t("docs.connecting");
      state.setAttribute("data-synced", String(connected && synced));
      // Rights may have changed (a lock): the server reconnects us; re-read them.
      if (!connected) refresh();
    });
  }

  void open();
  return {
    el,
    title: t("docs.title"),
    destroy() {
      destroyed = true;
      window.clearInterval(poll);
      stopChanges();
      editor?.destroy();
    },
  };
}
