// The video call screen: choose camera and microphone (with a preview), say
// clearly when the browser refuses them, then the tiles of everyone in the
// call, my buttons, and the teacher's controls.

import type { App } from "../app";
import { CallSession, PeerInfo } from "../call";
import { clear, formatTime, h } from "../dom";
import { lang, t } from "../i18n";
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
    preview?.getTracks().forEach((track) => track.stop());
    preview = null;
    if (!navigator.mediaDevices?.getUserMedia) {
      status.say(t("call.insecure"), "error");
      return;
    }
    try {
      preview = await navigator.mediaDevices.getUserMedia({
        video: camera.value ? { deviceId: { exact: camera.value } } : true,
        audio: mic.value ? { deviceId: { exact: mic.value } } : true,
      });
      previewVideo.srcObject = preview;
      status.say("");
      await listDevices();
    } catch (error) {
      status.say(mediaErrorText(error), "error");
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
    camera.onchange = () => void startPreview();
    mic.onchange = () => void startPreview();
    body.append(h("div", { class: "card join" },
      previewVideo,
      h("div", { class: "field" }, h("label", { for: "camera" }, t("call.camera")), camera),
      h("div", { class: "field" }, h("label", { for: "mic" }, t("call.mic")), mic),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => void enter(true) }, t("call.enter")),
        h("button", { type: "button", class: "secondary", onclick: () => void enter(false) }, t("call.enterWithout")),
      ),
    ));
    void startPreview();
  }

  async function enter(withMedia: boolean): Promise<void> {
    if (!withMedia) {
      preview?.getTracks().forEach((track) => track.stop());
      preview = null;
    }
    session = new CallSession(app, callId, preview, () => render());
    preview = null; // the session owns the tracks now
    try {
      await session.join();
    } catch (error) {
      status.say(describeError(error), "error");
      session.close();
      session = null;
      return;
    }
    if (destroyed) void session.leave();
  }

  // -- in the call ----------------------------------------------------------------
  function tile(id: string, name: string, stream: MediaStream | null, info: Partial<PeerInfo>, mine: boolean): HTMLElement {
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
    const notes = [info.audio_muted ? t("call.muted") : "", info.hand ? t("call.hand") : ""].filter(Boolean);
    return h("figure", { class: `tile${info.hand ? " hand" : ""}`, "data-name": name },
      video,
      h("figcaption", null, name, notes.length ? h("span", { class: "muted" }, ` · ${notes.join(" · ")}`) : null),
    );
  }

  function render(): void {
    const s = session;
    if (!s) return;
    clear(body);
    if (s.ended) {
      body.append(h("p", { class: "notice" }, t("call.ended")));
      return;
    }
    if (!s.admitted) {
      body.append(h("p", { class: "notice" }, t("call.waiting")));
      return;
    }
    if (s.mode === "sfu") body.append(h("p", { class: "notice" }, t("call.sfu")));
    if (s.breakout) {
      body.append(h("p", { class: "notice" }, t("call.inBreakout", {
        name: s.breakout, time: s.breakouts.ends ? formatTime(s.breakouts.ends, lang()) : "" })));
    }
    const me = app.me?.person.name ?? t("call.me");
    const local = s.local;
    const tiles = h("div", { class: "tiles" },
      tile("me", `${me} (${t("call.me")})`, local, { audio_muted: s.audioMuted, hand: s.hand }, true),
      [...s.remotes.entries()].map(([peer, r]) => tile(peer, r.info.person.name || "…", r.stream, r.info, false)),
    );
    const act = (fn: () => Promise<unknown>) => () => fn().catch((error) => status.say(describeError(error), "error"));
    const bar = h("div", { class: "call-bar", role: "toolbar", "aria-label": t("call.section") },
      h("button", { type: "button", "aria-pressed": String(s.audioMuted), onclick: act(() => s.setMuted("audio", !s.audioMuted)) },
        s.audioMuted ? t("call.unmuteMic") : t("call.muteMic")),
      h("button", { type: "button", "aria-pressed": String(s.videoMuted), onclick: act(() => s.setMuted("video", !s.videoMuted)) },
        s.videoMuted ? t("call.cameraOn") : t("call.cameraOff")),
      h("button", { type: "button", class: "secondary", "aria-pressed": String(s.hand), onclick: act(() => s.act("call.hand", { raised: !s.hand })) },
        s.hand ? t("call.lower") : t("call.raise")),
      h("button", { type: "button", class: "danger", onclick: act(async () => { await s.leave(); history.back(); }) }, t("call.leave")),
    );
    body.append(tiles, bar);
    if (s.role === "moderator") body.append(controls(s, act));
  }

  function controls(s: CallSession, act: (fn: () => Promise<unknown>) => () => void): HTMLElement {
    const check = (id: string, key: string, label: string, value: (on: boolean) => unknown) =>
      h("div", { class: "check" },
        h("input", { id, type: "checkbox", checked: key === "lobby" ? s.controls.lobby === "ask_moderator" : Boolean(s.controls[key]),
          onchange: (event: Event) => act(() => s.act("call.controls", { [key]: value((event.target as HTMLInputElement).checked) }))() }),
        h("label", { for: id }, label));
    return h("aside", { class: "card call-controls", "aria-label": t("call.controls") },
      h("h2", null, t("call.controls")),
      check("ctl-lobby", "lobby", t("call.askLobby"), (on) => (on ? "ask_moderator" : "always_admit")),
      check("ctl-mic", "mic_locked", t("call.micLocked"), (on) => on),
      check("ctl-cam", "camera_locked", t("call.cameraLocked"), (on) => on),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: act(() => s.act("call.mute_all")) }, t("call.muteAll")),
        h("button", { type: "button", class: "secondary", onclick: act(() => s.act("call.lower_all")) }, t("call.lowerAll")),
        h("button", { type: "button", class: "danger", onclick: act(() => s.act("call.end")) }, t("call.end")),
      ),
      breakoutControls(s, act),
      s.waiting.length ? h("h3", null, t("call.lobby")) : null,
      h("ul", { class: "members" }, s.waiting.map((w) => h("li", { class: "member" }, w.person.name,
        h("div", { class: "actions" },
          h("button", { type: "button", class: "link", onclick: act(() => s.act("call.admit", { who: w.peer })) }, t("call.admit")),
          h("button", { type: "button", class: "link danger", onclick: act(() => s.act("call.deny", { who: w.peer })) }, t("call.deny")),
        )))),
      h("ul", { class: "members" }, [...s.remotes.entries()].map(([peer, r]) => h("li", { class: "member" },
        r.info.person.name,
        h("div", { class: "actions" },
          h("button", { type: "button", class: "link", onclick: act(() => s.act("call.media", { who: peer, audio_muted: true })),
            "aria-label": `${t("call.mutePeer")} (${r.info.person.name})` }, t("call.mutePeer")),
          r.info.hand ? h("button", { type: "button", class: "link", onclick: act(() => s.act("call.hand", { who: peer, raised: false })) }, t("call.lower")) : null,
          h("button", { type: "button", class: "link danger", onclick: act(() => s.act("call.remove", { who: peer })),
            "aria-label": `${t("call.remove")} (${r.info.person.name})` }, t("call.remove")),
        )))),
    );
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
