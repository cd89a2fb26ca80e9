// Attachments on screen: the composer's buttons, tray, drop zone and paste;
// a message's files (image thumbnails that open a lightbox, file cards for
// the rest, a note while the antivirus has not answered).

import { fileUrl, MAX_PER_MESSAGE, sizeParts, thumbnailUrl, Tray, type AttachmentInfo, type TrayItem } from "../attachments";
import { clear, h } from "../dom";
import { errorText, t } from "../i18n";

// Icons drawn inline (Material Design paths): no emoji font needed, and the
// strict CSP allows SVG elements made by script.
const ICONS = {
  attach: "M16.5 6v11.5c0 2.21-1.79 4-4 4s-4-1.79-4-4V5a2.5 2.5 0 0 1 5 0v10.5c0 .55-.45 1-1 1s-1-.45-1-1V6H10v9.5a2.5 2.5 0 0 0 5 0V5c0-2.21-1.79-4-4-4S7 2.79 7 5v12.5c0 3.04 2.46 5.5 5.5 5.5s5.5-2.46 5.5-5.5V6h-1.5z",
  camera: "M12 15.2a3.2 3.2 0 1 0 0-6.4 3.2 3.2 0 0 0 0 6.4zM9 2 7.17 4H4c-1.1 0-2 .9-2 2v12c0 1.1.9 2 2 2h16c1.1 0 2-.9 2-2V6c0-1.1-.9-2-2-2h-3.17L15 2H9zm3 15c-2.76 0-5-2.24-5-5s2.24-5 5-5 5 2.24 5 5-2.24 5-5 5z",
  document: "M14 2H6c-1.1 0-2 .9-2 2v16c0 1.1.9 2 2 2h12c1.1 0 2-.9 2-2V8l-6-6zm2 16H8v-2h8v2zm0-4H8v-2h8v2zm-3-5V3.5L18.5 9H13z",
  audio: "M12 3v10.55A4 4 0 1 0 14 17V7h4V3h-6z",
  video: "M18 4l2 4h-3l-2-4h-2l2 4h-3l-2-4H8l2 4H7L5 4H4c-1.1 0-2 .9-2 2v12c0 1.1.9 2 2 2h16c1.1 0 2-.9 2-2V4h-4z",
  image: "M21 19V5c0-1.1-.9-2-2-2H5c-1.1 0-2 .9-2 2v14c0 1.1.9 2 2 2h14c1.1 0 2-.9 2-2zM8.5 13.5l2.5 3.01L14.5 12l4.5 6H5l3.5-4.5z",
  pending: "M11.99 2C6.47 2 2 6.48 2 12s4.47 10 9.99 10C17.52 22 22 17.52 22 12S17.52 2 11.99 2zM12 20c-4.42 0-8-3.58-8-8s3.58-8 8-8 8 3.58 8 8-3.58 8-8 8zm.5-13H11v6l5.25 3.15.75-1.23-4.5-2.67z",
};

function icon(name: keyof typeof ICONS | string): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  for (const [key, value] of [["viewBox", "0 0 24 24"], ["width", "22"], ["height", "22"],
    ["aria-hidden", "true"], ["focusable", "false"], ["class", "icon"]]) svg.setAttribute(key, value);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name as keyof typeof ICONS] ?? ICONS.document);
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

export interface Composer {
  tray: Tray;
  /** The attach and camera buttons (and their hidden inputs) for the compose row. */
  buttons: HTMLElement;
  /** The files on their way or ready, above the compose row. */
  list: HTMLElement;
  render: () => void;
  /** Files dropped on `zone` and pasted into `input` join the tray. */
  listen: (zone: HTMLElement, input: HTMLTextAreaElement) => void;
  setDisabled: (disabled: boolean) => void;
}

/** The composer's part: `changed` redraws the view (the send button's state). */
export function composer(changed: () => void, say: (text: string, kind?: "ok" | "error") => void): Composer {
  const list = h("ul", { class: "attach-tray", "aria-label": t("attach.list"), "aria-live": "polite" });
  const tray = new Tray(() => { render(); changed(); });

  function take(files: FileList | File[] | null | undefined): void {
    if (!files || !files.length) return;
    if (!tray.add([...files])) say(t("attach.tooMany", { n: MAX_PER_MESSAGE }), "error");
  }

  const fileInput = h("input", {
    type: "file", multiple: true, class: "visually-hidden", tabindex: -1, "aria-hidden": "true", id: "attach-file",
    // A hint for the picker only: the server decides from the bytes.
    accept: "image/*,audio/*,video/*,application/pdf,text/plain,text/csv,.pdf,.odt,.ods,.odp,.odg,.docx,.xlsx,.pptx,.txt,.csv",
    onchange: () => { take(fileInput.files); fileInput.value = ""; },
  });
  // On a phone, "capture" opens the camera straight away (elsewhere it is a file picker).
  const cameraInput = h("input", {
    type: "file", accept: "image/*", capture: "environment", class: "visually-hidden", tabindex: -1, "aria-hidden": "true",
    id: "attach-camera",
    onchange: () => { take(cameraInput.files); cameraInput.value = ""; },
  });
  const attachButton = h("button", {
    type: "button", class: "secondary attach", title: t("attach.button"), "aria-label": t("attach.button"),
    onclick: () => fileInput.click(),
  }, icon("attach"));
  const cameraButton = h("button", {
    type: "button", class: "secondary attach camera", title: t("attach.photo"), "aria-label": t("attach.photo"),
    onclick: () => cameraInput.click(),
  }, icon("camera"));
  // Only where a camera is at hand (a touch screen): a desktop has the file button.
  cameraButton.hidden = !window.matchMedia?.("(pointer: coarse)").matches;
  const buttons = h("div", { class: "attach-buttons" }, attachButton, cameraButton, fileInput, cameraInput);

  function itemView(item: TrayItem): HTMLElement {
    const size = sizeParts(item.size);
    let state: HTMLElement;
    if (item.status === "uploading") {
      const percent = item.size ? Math.min(100, Math.round((item.sent / item.size) * 100)) : 0;
      state = h("span", { class: "state" },
        h("progress", { max: 100, value: percent, "aria-label": item.name }),
        " ", percent >= 100 ? t("attach.checking") : t("attach.uploading", { percent }));
    } else if (item.status === "refused") {
      state = h("span", { class: "detail", role: "alert" },
        t("attach.refused", { name: item.name, reason: errorText(item.error?.code ?? "other", item.error?.message ?? "") }));
    } else {
      state = h("span", { class: item.status === "pending" ? "state" : "ok" },
        item.status === "pending" ? t("attach.pending") : t("attach.ready"));
    }
    const remove = h("button", {
      type: "button", class: "link remove", "aria-label": t("attach.remove", { name: item.name }),
      title: t("attach.remove", { name: item.name }),
      onclick: () => tray.remove(item.key),
    }, "✕");
    return h("li", { class: `attach-item ${item.status}`, "data-name": item.name },
      item.attachment?.thumbnail && item.attachment.state === "ready"
        ? h("img", { class: "attach-thumb", src: thumbnailUrl(item.attachment.id), alt: "" })
        : h("span", { class: "attach-icon" }, icon("document")),
      h("span", { class: "attach-name" }, item.name),
      h("span", { class: "muted attach-size" }, t(size.key, { n: size.n })),
      // A refusal's reason takes its own line, under the name and the ✕.
      item.status === "refused" ? [remove, state] : [state, remove],
    );
  }

  function render(): void {
    clear(list);
    for (const item of tray.items.values()) list.append(itemView(item));
    list.hidden = tray.items.size === 0;
  }

  function listen(zone: HTMLElement, input: HTMLTextAreaElement): void {
    let depth = 0;
    const hasFiles = (event: DragEvent) => [...(event.dataTransfer?.types ?? [])].includes("Files");
    zone.addEventListener("dragenter", (event) => {
      if (!hasFiles(event) || attachButton.disabled) return;
      event.preventDefault();
      depth++;
      zone.classList.add("dropping");
    });
    zone.addEventListener("dragover", (event) => {
      if (!hasFiles(event) || attachButton.disabled) return;
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("dropping");
    });
    zone.addEventListener("drop", (event) => {
      depth = 0;
      zone.classList.remove("dropping");
      if (!hasFiles(event) || attachButton.disabled) return;
      event.preventDefault();
      take(event.dataTransfer?.files);
    });
    input.addEventListener("paste", (event) => {
      const files = event.clipboardData?.files;
      if (!files?.length || attachButton.disabled) return;
      // Files pasted (a screenshot, an image copied): they join the tray;
      // text pasted alongside stays the browser's business.
      if (!event.clipboardData?.getData("text/plain")) event.preventDefault();
      take(files);
    });
  }

  render();
  return {
    tray, buttons, list, render, listen,
    setDisabled: (disabled: boolean) => {
      attachButton.disabled = disabled;
      cameraButton.disabled = disabled;
    },
  };
}

/** A message's files: images as thumbnails (a button that opens the
 * lightbox), other kinds as cards with a download link; ``report``: the
 * files of a reported message, read for reviewing that report. */
export function attachmentsBlock(files: AttachmentInfo[], report?: string): HTMLElement {
  return h("ul", { class: "attachments", "aria-label": t("attach.files") }, files.map((file) => {
    const size = sizeParts(file.size);
    if (file.state !== "ready") {
      return h("li", { class: "file-card pending" },
        h("span", { class: "attach-icon" }, icon("pending")),
        h("span", null, t("attach.scanning", { name: file.name })));
    }
    if (file.kind === "image" && file.thumbnail) {
      const ratio = file.width && file.height ? { width: Math.min(320, file.width), height: Math.round(Math.min(320, file.width) * file.height / file.width) } : {};
      return h("li", { class: "image-card" },
        h("button", {
          type: "button", class: "thumb", "aria-label": t("attach.open", { name: file.name }),
          onclick: () => lightbox(file, report),
        }, h("img", { src: thumbnailUrl(file.id, report), alt: file.name, loading: "lazy", ...ratio })),
        h("a", { href: fileUrl(file.id, report), download: file.name, class: "file-link", "aria-label": t("attach.download", { name: file.name }) },
          file.name));
    }
    return h("li", { class: "file-card" },
      h("span", { class: "attach-icon" }, icon(file.kind)),
      h("span", { class: "file-text" },
        h("a", { href: fileUrl(file.id, report), download: file.name, class: "file-link", "aria-label": t("attach.download", { name: file.name }) },
          file.name),
        h("span", { class: "muted" }, `${t(`attach.kind.${file.kind}` as "attach.kind.document") || file.kind} · ${t(size.key, { n: size.n })}`)),
      file.kind === "audio" ? h("audio", { controls: true, preload: "none", src: fileUrl(file.id, report) }) : null,
      file.kind === "video" ? h("video", { controls: true, preload: "none", src: fileUrl(file.id, report) }) : null,
    );
  }));
}

/** The full image over the page; Escape, the close button or a click on the
 * backdrop closes it (a modal <dialog>: focus stays inside). */
export function lightbox(file: AttachmentInfo, report?: string): void {
  const close = h("button", { type: "button", class: "secondary", autofocus: true }, t("attach.close"));
  const dialog = h("dialog", { class: "lightbox", "aria-label": file.name },
    h("img", { src: fileUrl(file.id, report), alt: file.name }),
    h("div", { class: "lightbox-bar" },
      h("span", { class: "attach-name" }, file.name),
      h("a", { href: fileUrl(file.id, report), download: file.name, class: "file-link" }, t("attach.download", { name: file.name })),
      close));
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
