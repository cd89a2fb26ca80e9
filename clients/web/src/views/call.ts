// The video call screen: choose camera and microphone (with a preview), say
// clearly when the browser refuses them, then the tiles of everyone in the
// call, my buttons, and the teacher's controls.

import type { App } from "../app";
import { CallSession, PeerInfo } from "../call";
import { clear, formatTime, h, Keyed, patch } from "../dom";
import { lang, t } from "../i18n";
import { OpError } from "../live";
import type { View } from "../router";
import { describeError, statusLine } from "../ui";

function mediaErrorText(error: unknown): string {
  const name = error instanceof DOMException ? error.name : String(error);
  // The browser's own name for the error, in brackets, for whoever helps.
  const text = (key: Parameters<typeof t>[0]) => `${t(key)} (${name})`;
  if (name === "NotAllowedError" || name === "SecurityError") return text("call.denied");
  if (name === "NotFoundError" || name === "OverconstrainedError") return text("call.notFound");
  if (name === "NotReadableError" || name === "AbortError") return text("call.busy");
  return text("call.denied");
}

export function callView(app: App, callId: string): View {
  const status = statusLine();
  const title = h("h1", null, t("call.title", { name: "…" }));
  const body = h("div", { class: "call-body" });
  const el = h("section", { class: "call-view" },
    h("header", { class: "room-head" },
      h("a", { href: "/", "data-link": true, class: "back" }, h("span", { "aria-hidden": "true" }, "← "), t("room.back")),
      title),
    status.el, body);
  let preview: MediaStream | null = null;
  let previewing: Promise<void> = Promise.resolve();
  // Bumped by each preview and by entering: a camera the browser opens after
  // the person entered without one, or after a newer preview, is closed at
  // once and says nothing (it would turn the camera on in the call, and wipe
  // the join's answer, "cette visio est complète", from the status line).
  let previewGeneration = 0;
  let session: CallSession | null = null;
  let destroyed = false;
  const videos = new Map<string, HTMLVideoElement>();
  // Kept across redraws, so what the teacher typed survives call events.
  const count = h("input", { id: "breakout-count", type: "number", min: 1, max: 8, value: 2 });
  const minutes = h("input", { id: "breakout-minutes", type: "number", min: 1, max: 240, value: 10 });

  // -- before joining: devices and preview -------------------------------------
  const camera = h("select", { id: "camera" });
  const mic = h("select", { id: "mic" });
  const previewVideo = h("video", { class: "preview", autoplay: true, muted: true, playsinline: true });
  previewVideo.muted = true;

  async function startPreview(): Promise<void> {
    const generation = ++previewGeneration;
    preview?.getTracks().forEach((track) => track.stop());
    preview = null;
    if (!navigator.mediaDevices?.getUserMedia) {
      status.say(t("call.insecure"), "error");
      return;
    }
    const current = () => generation === previewGeneration && !session && !destroyed;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        video: camera.value ? { deviceId: { exact: camera.value } } : true,
        audio: mic.value ? { deviceId: { exact: mic.value } } : true,
      });
      if (!current()) {
        stream.getTracks().forEach((track) => track.stop());
        return;
      }
      preview = stream;
      previewVideo.srcObject = preview;
      status.say("");
      await listDevices();
    } catch (error) {
      if (current()) status.say(mediaErrorText(error), "error");
    }
  }

  async function listDevices(): Promise<void> {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, current?: string) => {
      const chosen = select.value || current || "";
      clear(select);
      for (const d of devices.filter((x) => x.kind === kind)) {
        select.append(h("option", { value: d.deviceId, selected: d.deviceId === chosen }, d.label || d.deviceId.slice(0, 8)));
      }
      if (!select.options.length) select.append(h("option", { value: "" }, t("call.noDevice")));
    };
    fill(camera, "videoinput", preview?.getVideoTracks()[0]?.getSettings().deviceId);
    fill(mic, "audioinput", preview?.getAudioTracks()[0]?.getSettings().deviceId);
  }

  function lobbyScreen(): void {
    clear(body);
    camera.onchange = () => { previewing = startPreview(); };
    mic.onchange = () => { previewing = startPreview(); };
    body.append(h("div", { class: "card join" },
      previewVideo,
      h("div", { class: "field" }, h("label", { for: "camera" }, t("call.camera")), camera),
      h("div", { class: "field" }, h("label", { for: "mic" }, t("call.mic")), mic),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => void enter(true) }, t("call.enter")),
        h("button", { type: "button", class: "secondary", onclick: () => void enter(false) }, t("call.enterWithout")),
      ),
    ));
    previewing = startPreview();
  }

  async function enter(withMedia: boolean): Promise<void> {
    // A click right after the screen opened must not join without the camera
    // the browser is still opening.
    if (withMedia) await previewing;
    if (!withMedia) {
      previewGeneration++; // a preview still opening is closed when it comes
      preview?.getTracks().forEach((track) => track.stop());
      preview = null;
    }
    session = new CallSession(app, callId, preview, () => render());
    preview = null; // the session owns the tracks now
    try {
      await session.join();
    } catch (error) {
      const full = error instanceof OpError && error.code === "call_full" && !app.calls.sfu;
      status.say(full ? t("error.call_full_mesh", { n: app.calls.people }) : describeError(error), "error");
      session.close();
      session = null;
      return;
    }
    if (destroyed) void session.leave();
  }

  // -- in the call ----------------------------------------------------------------
  // Redraws patch what changed only (dom.ts patch): a keyboard user's focus
  // on a button survives the call's events, and <video> elements stay put.
  const tilesEl = h("div", { class: "tiles" });
  const lobbyTitle = h("h3", null, t("call.lobby"));
  const lobbyList = h("ul", { class: "members" });
  const peopleList = h("ul", { class: "members" });
  const checksHost = h("div", null);
  const breakoutsHost = h("div", null);
  let controlsEl: HTMLElement | null = null;
  let checksSig = "";
  let breakoutsSig = "";

  function render(): void {
    const s = session;
    if (!s) return;
    const act = (fn: () => Promise<unknown>) => () => {
      fn().catch((error) => status.say(describeError(error), "error"));
    };
    const parts: Keyed[] = [];
    const notice = (key: string, text: string) =>
      parts.push({ key, sig: text, make: () => h("p", { class: "notice" }, text) });
    if (s.ended) notice("ended", t("call.ended"));
    else if (!s.admitted) notice("waiting", t("call.waiting"));
    if (s.ended || !s.admitted) {
      patch(body, parts);
      return;
    }
    if (s.mode === "sfu") notice("sfu", t("call.sfu"));
    if (s.breakout) {
      notice("breakout", t("call.inBreakout", {
        name: s.breakout, time: s.breakouts.ends ? formatTime(s.breakouts.ends, lang()) : "" }));
    }
    for (const id of [...videos.keys()]) {
      if (id !== "me" && !s.remotes.has(id)) videos.delete(id); // they left
    }
    const me = app.me?.person.name ?? t("call.me");
    patch(tilesEl, [
      tileItem("me", `${me} (${t("call.me")})`, s.local, { audio_muted: s.audioMuted, hand: s.hand }, true),
      ...[...s.remotes.entries()].map(([peer, r]) =>
        tileItem(peer, r.info.person.name || "…", r.stream, r.info, false)),
    ]);
    parts.push({ key: "tiles", sig: "", make: () => tilesEl });
    parts.push({
      key: "bar",
      sig: JSON.stringify([s.audioMuted, s.videoMuted, s.hand, lang()]),
      make: () => h("div", { class: "call-bar", role: "toolbar", "aria-label": t("call.section") },
        h("button", { type: "button", "aria-pressed": String(s.audioMuted), onclick: act(() => unmuteOrExplain(s, "audio")) },
          s.audioMuted ? t("call.unmuteMic") : t("call.muteMic")),
        h("button", { type: "button", "aria-pressed": String(s.videoMuted), onclick: act(() => unmuteOrExplain(s, "video")) },
          s.videoMuted ? t("call.cameraOn") : t("call.cameraOff")),
        h("button", { type: "button", class: "secondary", "aria-pressed": String(s.hand), onclick: act(() => s.act("call.hand", { raised: !s.hand })) },
          s.hand ? t("call.lower") : t("call.raise")),
        h("button", { type: "button", class: "danger", onclick: act(async () => { await s.leave(); history.back(); }) }, t("call.leave")),
      ),
    });
    if (s.role === "moderator") {
      updateControls(s, act);
      parts.push({ key: "controls", sig: "", make: () => controlsEl! });
    }
    patch(body, parts);
  }

  /** Toggle my microphone or camera; a teacher's lock is said in words. */
  async function unmuteOrExplain(s: CallSession, kind: "audio" | "video"): Promise<void> {
    const muted = kind === "audio" ? s.audioMuted : s.videoMuted;
    const locked = Boolean(s.controls[kind === "audio" ? "mic_locked" : "camera_locked"]);
    if (muted && locked && s.role !== "moderator") {
      status.say(t(kind === "audio" ? "call.micLockedSay" : "call.cameraLockedSay"), "error");
      return;
    }
    try {
      await s.setMuted(kind, !muted);
    } catch (error) {
      // The lock may have reached the server before its notice reached us.
      if (muted && error instanceof OpError && error.code === "forbidden") {
        status.say(t(kind === "audio" ? "call.micLockedSay" : "call.cameraLockedSay"), "error");
        return;
      }
      throw error;
    }
  }

  function tileItem(id: string, name: string, stream: MediaStream | null, info: Partial<PeerInfo>, mine: boolean): Keyed {
    let video = videos.get(id);
    if (!video) {
      video = h("video", { autoplay: true, playsinline: true, "data-peer": id });
      video.muted = mine; // never play my own microphone back
      videos.set(id, video);
    }
    if (stream && video.srcObject !== stream) {
      video.srcObject = stream;
      video.play().catch(() => undefined); // autoplay may wait for a gesture
    }
    const v = video;
    const notes = [info.audio_muted ? t("call.muted") : "", info.hand ? t("call.hand") : ""].filter(Boolean);
    return {
      key: id,
      sig: JSON.stringify([name, notes]),
      make: () => h("figure", { class: `tile${info.hand ? " hand" : ""}`, "data-name": name },
        v,
        h("figcaption", null, name, notes.length ? h("span", { class: "muted" }, ` · ${notes.join(" · ")}`) : null),
      ),
    };
  }

  function updateControls(s: CallSession, act: (fn: () => Promise<unknown>) => () => void): void {
    if (!controlsEl) {
      controlsEl = h("aside", { class: "card call-controls", "aria-label": t("call.controls") },
        h("h2", null, t("call.controls")),
        checksHost,
        h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: act(() => s.act("call.mute_all")) }, t("call.muteAll")),
          h("button", { type: "button", class: "secondary", onclick: act(() => s.act("call.lower_all")) }, t("call.lowerAll")),
          h("button", { type: "button", class: "danger", onclick: act(() => s.act("call.end")) }, t("call.end")),
        ),
        breakoutsHost, lobbyTitle, lobbyList, peopleList,
      );
    }
    const sig = JSON.stringify(s.controls);
    if (sig !== checksSig) {
      checksSig = sig;
      clear(checksHost);
      const check = (id: string, key: string, label: string, value: (on: boolean) => unknown) =>
        h("div", { class: "check" },
          h("input", { id, type: "checkbox", checked: key === "lobby" ? s.controls.lobby === "ask_moderator" : Boolean(s.controls[key]),
            onchange: (event: Event) => act(() => s.act("call.controls", { [key]: value((event.target as HTMLInputElement).checked) }))() }),
          h("label", { for: id }, label));
      checksHost.append(
        check("ctl-lobby", "lobby", t("call.askLobby"), (on) => (on ? "ask_moderator" : "always_admit")),
        check("ctl-mic", "mic_locked", t("call.micLocked"), (on) => on),
        check("ctl-cam", "camera_locked", t("call.cameraLocked"), (on) => on),
        check("ctl-start", "mute_on_start", t("call.muteOnStart"), (on) => on),
        check("ctl-teacher-cams", "teacher_only_cameras", t("call.teacherOnlyCameras"), (on) => on),
        // Without a video server the mode would show nobody: not offered.
        app.calls.sfu ? check("ctl-sfu", "force_sfu", t("call.forceSfu"), (on) => on)
          : h("p", { class: "hint" }, t("call.noSfu", { n: app.calls.people })),
      );
    }
    const bsig = JSON.stringify([s.breakouts, s.breakouts.rooms.length ? null : s.remotes.size]);
    if (bsig !== breakoutsSig) {
      breakoutsSig = bsig;
      clear(breakoutsHost);
      breakoutsHost.append(breakoutControls(s, act));
    }
    lobbyTitle.hidden = s.waiting.length === 0;
    patch(lobbyList, s.waiting.map((w) => ({
      key: w.peer,
      sig: w.person.name,
      make: () => h("li", { class: "member" }, w.person.name,
        h("div", { class: "actions" },
          h("button", { type: "button", class: "link", onclick: act(() => s.act("call.admit", { who: w.peer })) }, t("call.admit")),
          h("button", { type: "button", class: "link danger", onclick: act(() => s.act("call.deny", { who: w.peer })) }, t("call.deny")),
        )),
    })));
    patch(peopleList, [...s.remotes.entries()].map(([peer, r]) => ({
      key: peer,
      sig: JSON.stringify([r.info.person.name, r.info.hand]),
      make: () => h("li", { class: "member" }, r.info.person.name,
        h("div", { class: "actions" },
          h("button", { type: "button", class: "link", onclick: act(() => s.act("call.media", { who: peer, audio_muted: true })),
            "aria-label": `${t("call.mutePeer")} (${r.info.person.name})` }, t("call.mutePeer")),
          r.info.hand ? h("button", { type: "button", class: "link", onclick: act(() => s.act("call.hand", { who: peer, raised: false })) }, t("call.lower")) : null,
          h("button", { type: "button", class: "link danger", onclick: act(() => s.act("call.remove", { who: peer })),
            "aria-label": `${t("call.remove")} (${r.info.person.name})` }, t("call.remove")),
        )),
    })));
  }

  function breakoutControls(s: CallSession, act: (fn: () => Promise<unknown>) => () => void): HTMLElement {
    if (s.breakouts.rooms.length) {
      return h("div", { class: "breakouts" },
        h("h3", null, t("call.breakoutsTitle")),
        h("p", null, t("call.breakoutsOpen", { names: s.breakouts.rooms.join(", "),
          time: s.breakouts.ends ? formatTime(s.breakouts.ends, lang()) : "" })),
        h("button", { type: "button", class: "secondary", onclick: act(() => s.act("call.breakouts_close")) },
          t("call.breakoutClose")));
    }
    const form = h("form", {
      class: "breakouts",
      onsubmit: (event: Event) => {
        event.preventDefault();
        const n = Math.max(1, Math.min(8, Number(count.value) || 1));
        const rooms = Array.from({ length: n }, (_, i) => t("call.groupN", { n: i + 1 }));
        // Everyone but the moderators, dealt round the rooms in turn.
        const pupils = [...s.remotes.values()].filter((r) => r.info.role !== "moderator");
        const assign = Object.fromEntries(pupils.map((r, i) => [r.info.peer, i % n]));
        act(() => s.act("call.breakouts", { rooms, assign, duration_s: Math.max(60, Number(minutes.value) * 60) }))();
      },
    },
      h("h3", null, t("call.breakoutsTitle")),
      h("div", { class: "field" }, h("label", { for: "breakout-count" }, t("call.breakoutCount")), count),
      h("div", { class: "field" }, h("label", { for: "breakout-minutes" }, t("call.breakoutMinutes")), minutes),
      h("button", { type: "submit", class: "secondary" }, t("call.breakoutOpen")),
    );
    return form;
  }

  // The call's name: from the room's call list when we came from a room.
  const name = new URLSearchParams(location.search).get("name");
  title.textContent = t("call.title", { name: name ?? callId });
  lobbyScreen();
  return {
    el,
    title: t("call.section"),
    destroy() {
      destroyed = true;
      preview?.getTracks().forEach((track) => track.stop());
      void session?.leave();
    },
  };
}
