// The shared-document editor, loaded on demand (a separate chunk: pupils who
// only chat never download it). Quill edits the document's Y.Text root
// "content" (what the server exports and restores, docs: collab/content.py),
// y-quill binds the two, y-websocket speaks /collab/<document>, and
// quill-cursors shows the others' cursors with their names (awareness).

import Quill from "quill";
// The "core" build: the default one injects its CSS in a <style> tag, which
// our CSP refuses; its CSS comes with styles.css instead.
import CursorsModule from "quill-cursors/core";
import { QuillBinding } from "y-quill";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";

// That build is a UMD bundle whose CommonJS export wraps the class in
// `default` once more than its types say.
const QuillCursors = (CursorsModule as unknown as { default?: typeof CursorsModule }).default ?? CursorsModule;
Quill.register("modules/cursors", QuillCursors);

export interface EditorHandle {
  setReadOnly(readOnly: boolean): void;
  text(): string;
  destroy(): void;
  onPeople(listener: (names: string[]) => void): void;
  onStatus(listener: (connected: boolean, synced: boolean) => void): void;
  // The server refused a change of this copy for good (a reason ending
  // "[refused-edit]", docs/collab.md "Refused edits"): the copy differs from
  // the document and every further change of it would be refused too. The
  // page drops this editor and opens a new one (a new Y.Doc) from the server.
  onRefused(listener: (reason: string) => void): void;
}

const REFUSED_EDIT = "[refused-edit]";
const MESSAGE_AUTH = 2;

// The permission-denied message (y-protocols/auth): varUint 0, varString reason.
// y-websocket only logs it; we read it from the lib0 decoder it hands over.
function readReason(decoder: { arr: Uint8Array; pos: number }): string | null {
  const varUint = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = decoder.arr[decoder.pos++];
      if (byte === undefined) return -1;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  };
  if (varUint() !== 0) return null;
  const length = varUint();
  if (length < 0 || decoder.pos + length > decoder.arr.length) return null;
  const reason = new TextDecoder().decode(decoder.arr.subarray(decoder.pos, decoder.pos + length));
  decoder.pos += length;
  return reason;
}

// Readable colours (contrast ≥ 4.5:1 on white) for the others' cursors.
const COLOURS = ["#1d4ed8", "#b91c1c", "#047857", "#7c3aed", "#b45309", "#0e7490", "#be185d"];

export function colourOf(id: string): string {
  let hash = 0;
  for (const ch of id) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return COLOURS[hash % COLOURS.length];
}

export function openEditor(
  host: HTMLElement,
  toolbarLabel: string,
  buttonLabels: Record<string, string>,
  room: string,
  me: { id: string; name: string },
  readOnly: boolean,
): EditorHandle {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const doc = new Y.Doc();
  // The session cookie rides on the same-origin upgrade: no token in the URL.
  const provider = new WebsocketProvider(`${scheme}://${location.host}/collab`, room, doc);
  const refusedListeners: ((reason: string) => void)[] = [];
  let refused = false;
  (provider.messageHandlers as unknown as ((...args: unknown[]) => void)[])[MESSAGE_AUTH] = (_encoder, decoder) => {
    const reason = readReason(decoder as { arr: Uint8Array; pos: number });
    if (reason === null) return;
    console.warn(`Permission denied to access ${provider.url}.\n${reason}`);
    if (reason.endsWith(REFUSED_EDIT) && !refused) {
      refused = true; // once: the page replaces this editor
      for (const listener of refusedListeners) setTimeout(() => listener(reason), 0);
    }
  };
  provider.awareness.setLocalStateField("user", { name: me.name, color: colourOf(me.id) });
  const quill = new Quill(host, {
    theme: "snow",
    readOnly,
    modules: {
      cursors: { hideDelayMs: 60000, transformOnTextChange: true },
      toolbar: [[{ header: [1, 2, false] }], ["bold", "italic", "underline"], [{ list: "ordered" }, { list: "bullet" }], ["clean"]],
      history: { userOnly: true },
    },
  });
  const toolbar = host.previousElementSibling;
  if (toolbar?.classList.contains("ql-toolbar")) {
    toolbar.setAttribute("role", "toolbar");
    toolbar.setAttribute("aria-label", toolbarLabel);
    // Quill's buttons are icons only: give each a name screen readers say.
    for (const button of toolbar.querySelectorAll("button, .ql-picker-label")) {
      const format = [...button.classList].find((c) => c.startsWith("ql-") && c !== "ql-picker-label")?.slice(3)
        ?? [...(button.parentElement?.classList ?? [])].find((c) => c.startsWith("ql-") && c !== "ql-picker")?.slice(3);
      const value = button.getAttribute("value");
      const label = buttonLabels[value ? `${format}.${value}` : format ?? ""];
      if (label) button.setAttribute("aria-label", label);
    }
  }
  quill.root.setAttribute("role", "textbox");
  quill.root.setAttribute("aria-multiline", "true");
  quill.root.setAttribute("aria-label", toolbarLabel);
  const binding = new QuillBinding(doc.getText("content"), quill, provider.awareness);

  return {
    setReadOnly(value) {
      quill.enable(!value);
    },
    text() {
      return quill.getText();
    },
    onPeople(listener) {
      const report = () => {
        const names: string[] = [];
        provider.awareness.getStates().forEach((state, client) => {
          if (client !== doc.clientID && state.user?.name) names.push(state.user.name);
        });
        listener([...new Set(names)].sort());
      };
      provider.awareness.on("change", report);
      report();
    },
    onStatus(listener) {
      provider.on("status", () => listener(provider.wsconnected, provider.synced));
      provider.on("sync", () => listener(provider.wsconnected, provider.synced));
    },
    onRefused(listener) {
      refusedListeners.push(listener);
    },
    destroy() {
      binding.destroy();
      provider.destroy();
      doc.destroy();
    },
  };
}
