// Attachments (docs/attachments.md): the upload of a file with its progress,
// the tray of files waiting to go with the next message, and the addresses
// of a file and its thumbnail. No DOM here (views/attachments.ts draws).
//
// An upload is the raw file as the body of POST /api/attachments?name=…
// (docs/protocol.md, "Attachments"), sent with XMLHttpRequest because fetch
// reports no upload progress. The session cookie goes with it (same origin);
// the server checks the file (type from its bytes, antivirus, images
// re-encoded without their metadata) before answering.

import { ApiError } from "./api";
import { lang } from "./i18n";

/** A file as the server describes it (an upload's answer, a message's frames). */
export interface AttachmentInfo {
  id: string;
  name: string;
  size: number;
  kind: "document" | "image" | "audio" | "video" | string;
  mime: string;
  state: "ready" | "pending" | string;
  thumbnail: boolean;
  width?: number;
  height?: number;
}

/** At most this many files go with one message (the server's limit too). */
export const MAX_PER_MESSAGE = 10;

/** A file's address; ``report``: read for reviewing that report (a
 * moderator or the school's admin outside the room; docs/attachments.md). */
export function fileUrl(id: string, report?: string): string {
  return `/api/attachments/${encodeURIComponent(id)}${reviewQuery(report)}`;
}

export function thumbnailUrl(id: string, report?: string): string {
  return `/api/attachments/${encodeURIComponent(id)}/thumbnail${reviewQuery(report)}`;
}

function reviewQuery(report?: string): string {
  return report ? `?report=${encodeURIComponent(report)}` : "";
}

/** "1,2 Mo" / "1.2 MB", "340 ko" / "340 kB". */
export function sizeParts(bytes: number): { key: "attach.kb" | "attach.mb"; n: string } {
  const format = (value: number) =>
    value.toLocaleString(lang(), { maximumFractionDigits: value < 10 ? 1 : 0 });
  if (bytes >= 1_000_000) return { key: "attach.mb", n: format(bytes / 1_000_000) };
  return { key: "attach.kb", n: format(Math.max(1, Math.round(bytes / 1000))) };
}

/** Whether the browser declares this file as a kind we show inline. */
export function isImage(info: { kind: string }): boolean {
  return info.kind === "image";
}

export interface UploadHandle {
  done: Promise<AttachmentInfo>;
  abort: () => void;
}

/** Send one file; `progress(sent, total)` as its bytes leave. Rejects with an
 * ApiError (the server's code, or "network"). */
export function upload(file: Blob, name: string, progress: (sent: number, total: number) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<AttachmentInfo>((resolve, reject) => {
    xhr.open("POST", `/api/attachments?name=${encodeURIComponent(name)}`);
    xhr.setRequestHeader("content-type", file.type || "application/octet-stream");
    xhr.setRequestHeader("accept-language", lang());
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      let data: { attachment?: AttachmentInfo; error?: { code?: string; message?: string } } = {};
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : {};
      } catch {
        reject(new ApiError("internal", `bad answer (${xhr.status})`, xhr.status));
        return;
      }
      if (xhr.status >= 200 && xhr.status < 300 && data.attachment) {
        resolve(data.attachment);
      } else {
        reject(new ApiError(data.error?.code ?? "internal", data.error?.message ?? `HTTP ${xhr.status}`, xhr.status));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError("network", "network error", 0)));
    xhr.addEventListener("abort", () => reject(new ApiError("aborted", "aborted", 0)));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}

export type TrayStatus = "uploading" | "ready" | "pending" | "refused";

/** One file in the composer's tray. */
export interface TrayItem {
  key: string;
  name: string;
  size: number;
  sent: number; // bytes sent so far
  status: TrayStatus;
  attachment?: AttachmentInfo;
  error?: { code: string; message: string };
  abort?: () => void;
}

let counter = 0;

/** The files chosen for the next message: each uploads at once; the message
 * goes with the ids of those the server accepted. */
export class Tray {
  readonly items = new Map<string, TrayItem>();

  constructor(
    private readonly changed: () => void,
    private readonly send: typeof upload = upload,
  ) {}

  /** Start uploading `files`; refuses past MAX_PER_MESSAGE (returns false). */
  add(files: Iterable<File>): boolean {
    let fitted = true;
    for (const file of files) {
      const kept = [...this.items.values()].filter((i) => i.status !== "refused").length;
      if (kept >= MAX_PER_MESSAGE) {
        fitted = false;
        break;
      }
      const key = `f${++counter}`;
      // A pasted image has a generic name: give it the moment it was taken.
      const name = file.name && file.name !== "image.png" ? file.name : pastedName(file);
      const item: TrayItem = { key, name, size: file.size, sent: 0, status: "uploading" };
      this.items.set(key, item);
      const handle = this.send(file, name, (sent, total) => {
        item.sent = sent;
        item.size = total;
        this.changed();
      });
      item.abort = handle.abort;
      handle.done.then((attachment) => {
        item.attachment = attachment;
        item.name = attachment.name;
        item.sent = item.size;
        item.status = attachment.state === "pending" ? "pending" : "ready";
      }, (error: unknown) => {
        if (error instanceof ApiError && error.code === "aborted") return;
        item.status = "refused";
        item.error = error instanceof ApiError
          ? { code: error.code, message: error.message } : { code: "network", message: "" };
      }).finally(() => {
        delete item.abort;
        this.changed();
      });
    }
    this.changed();
    return fitted;
  }

  /** Files already on the server back in the tray (a message refused for
   * its text goes back to the box with them). */
  restore(files: AttachmentInfo[]): void {
    for (const attachment of files) {
      if ([...this.items.values()].some((i) => i.attachment?.id === attachment.id)) continue;
      const key = `f${++counter}`;
      this.items.set(key, {
        key, name: attachment.name, size: attachment.size, sent: attachment.size, attachment,
        status: attachment.state === "pending" ? "pending" : "ready",
      });
    }
    this.changed();
  }

  remove(key: string): void {
    const item = this.items.get(key);
    item?.abort?.();
    this.items.delete(key);
    // An accepted upload never sent is the server's to sweep (an hour later);
    // say so now all the same, best effort.
    if (item?.attachment) {
      void fetch(fileUrl(item.attachment.id), { method: "DELETE", credentials: "same-origin" }).catch(() => undefined);
    }
    this.changed();
  }

  /** Files still on their way: the message waits for them. */
  busy(): boolean {
    return [...this.items.values()].some((i) => i.status === "uploading");
  }

  accepted(): AttachmentInfo[] {
    return [...this.items.values()].flatMap((i) => (i.attachment && i.status !== "refused" ? [i.attachment] : []));
  }

  /** After sending: the accepted files went with the message; refusals stay
   * shown until removed, so their reason is read. */
  sent(): void {
    for (const [key, item] of this.items) {
      if (item.status !== "refused") this.items.delete(key);
    }
    this.changed();
  }
}

function pastedName(file: File): string {
  const extension = file.type.startsWith("image/") ? `.${file.type.slice(6).replace("jpeg", "jpg")}` : "";
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, "0");
  return `image-${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}${extension}`;
}
