// A video call in mesh mode (docs: rtc/room.py, server/gateway/call_ops.py):
// signalling over /ws (call.signal), one RTCPeerConnection per other peer,
// "perfect negotiation" with the polite flag the server assigns, trickle ICE.
// The peer that arrives offers to those already there.

import type { App } from "./app";
import { Frame, OpError } from "./live";

export interface PeerInfo {
  peer: string;
  person: { id: string; name: string };
  role: "moderator" | "presenter" | "viewer";
  audio_muted: boolean;
  video_muted: boolean;
  hand: boolean;
  breakout: string | null;
  polite?: boolean;
}

interface Remote {
  info: PeerInfo;
  polite: boolean;
  pc: RTCPeerConnection;
  makingOffer: boolean;
  ignoreOffer: boolean;
  stream: MediaStream;
  tracksAdded: boolean;
  subscription?: string; // SFU mode: this is our subscription to their feed
}

export type CallListener = (event: string, frame: Frame) => void;

export class CallSession {
  peer = "";
  role: PeerInfo["role"] = "viewer";
  admitted = false;
  audioMuted = false;
  videoMuted = false;
  hand = false;
  controls: Record<string, unknown> = {};
  mode: "mesh" | "sfu" = "mesh";
  remotes = new Map<string, Remote>();
  waiting: PeerInfo[] = [];
  breakout: string | null = null; // the breakout room I am in, if any
  breakouts: { rooms: string[]; ends: number | null } = { rooms: [], ends: null };
  ended: string | null = null;
  private iceServers: RTCIceServer[] = [];
  // Everyone seated with us (both modes): SFU mode subscribes to each.
  private seatedPeers = new Map<string, PeerInfo>();
  private publisher: RTCPeerConnection | null = null;
  private unlisten: (() => void) | null = null;

  constructor(
    private readonly app: App,
    readonly callId: string,
    public local: MediaStream | null,
    private readonly changed: (what: string) => void,
  ) {}

  async join(): Promise<void> {
    this.unlisten = this.app.onCallEvent((frame) => this.handle(frame));
    const reply = await this.app.request("call.join", { call: this.callId });
    this.peer = reply.peer;
    this.role = reply.role;
    this.admitted = reply.admitted;
    this.audioMuted = reply.audio_muted;
    this.videoMuted = reply.video_muted;
    this.controls = reply.controls ?? {};
    this.mode = reply.mode ?? "mesh";
    this.iceServers = (reply.ice_servers ?? []) as RTCIceServer[];
    this.applyMutes();
    if (this.admitted) this.seated((reply.peers ?? []) as PeerInfo[]);
    this.changed("joined");
  }

  /** Seated: offer to everyone already there (mesh), or publish and
   * subscribe through the SFU. */
  private seated(peers: PeerInfo[]): void {
    for (const info of peers) this.seatedPeers.set(info.peer, info);
    if (this.mode === "sfu") {
      void this.startSfu();
      return;
    }
    for (const info of peers) this.remote(info, true);
  }

  // -- SFU mode: one connection to publish, one per feed received ------------
  private async startSfu(): Promise<void> {
    console.info(`préau: SFU mode (publishing: ${Boolean(this.local)})`); // for support
    for (const peer of [...this.remotes.keys()]) this.drop(peer); // mesh ones, if any
    await this.publish().catch((error) => console.warn("préau: publish failed", error));
    for (const info of this.seatedPeers.values()) void this.subscribeTo(info);
  }

  /** Send this connection's candidates to the SFU as `sfu.trickle` for
   * `target`; those found before the target is known (the publish reply, the
   * subscription) wait, then go in order. Returns the "target known" switch. */
  private trickle(pc: RTCPeerConnection): (target: string) => void {
    let target: string | null = null;
    const waiting: (Record<string, unknown> | null)[] = [];
    const send = (candidate: Record<string, unknown> | null) => {
      this.act("sfu.trickle", { target, candidate })
        .catch((error) => console.warn("préau: trickle refused", error));
    };
    pc.onicecandidate = (event) => {
      const c = event.candidate;
      if (c && !c.candidate) return; // an m-line's end: the final null says it for all
      const candidate = c ? {
        candidate: c.candidate, sdpMid: c.sdpMid ?? undefined,
        sdpMLineIndex: c.sdpMLineIndex ?? undefined, usernameFragment: c.usernameFragment ?? undefined,
      } : null;
      if (target === null) waiting.push(candidate);
      else send(candidate);
    };
    return (known) => {
      target = known;
      for (const candidate of waiting.splice(0)) send(candidate);
    };
  }

  private async publish(): Promise<void> {
    if (!this.local || this.publisher) return;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.publisher = pc;
    pc.onconnectionstatechange = () => console.info(`préau: publish ${pc.connectionState}`);
    const ready = this.trickle(pc);
    for (const track of this.local.getTracks()) {
      pc.addTransceiver(track, { direction: "sendonly", streams: [this.local] });
    }
    await pc.setLocalDescription();
    const reply = await this.act("sfu.publish", { sdp: pc.localDescription!.sdp });
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    ready("publish");
  }

  private async subscribeTo(info: PeerInfo): Promise<void> {
    if (info.peer === this.peer || this.remotes.has(info.peer)) return;
    let reply: Frame | null = null;
    // The SFU lists a feed once its publisher is connected: try for a while.
    for (let attempt = 0; attempt < 80 && !this.ended && this.seatedPeers.has(info.peer); attempt++) {
      try {
        reply = await this.act("sfu.subscribe", { feed: info.peer });
        break;
      } catch (error) {
        if (!(error instanceof OpError) || error.code !== "not_found") throw error;
        await new Promise((resolve) => window.setTimeout(resolve, 250));
      }
    }
    if (!reply || this.remotes.has(info.peer)) return;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const remote: Remote = {
      info, polite: true, pc, makingOffer: false, ignoreOffer: false,
      stream: new MediaStream(), tracksAdded: true, subscription: reply.subscription,
    };
    this.remotes.set(info.peer, remote);
    pc.onconnectionstatechange = () => {
      console.info(`préau: feed ${info.peer} ${pc.connectionState}`);
      this.changed("state");
    };
    pc.ontrack = (event) => {
      const tracks = [...remote.stream.getTracks().filter((x) => x.kind !== event.track.kind), event.track];
      remote.stream = new MediaStream(tracks);
      this.changed("media");
    };
    const ready = this.trickle(pc);
    await pc.setRemoteDescription({ type: "offer", sdp: reply.sdp });
    await pc.setLocalDescription();
    await this.act("sfu.answer", { subscription: reply.subscription, sdp: pc.localDescription!.sdp });
    ready(reply.subscription);
    this.changed("media");
  }

  private remote(info: PeerInfo, offer: boolean): Remote {
    const existing = this.remotes.get(info.peer);
    if (existing) {
      existing.info = { ...existing.info, ...info };
      return existing;
    }
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    // The server's rule (rtc/room.py polite()), if the event did not say.
    const polite = info.polite ?? this.peer > info.peer;
    const remote: Remote = {
      info, polite, pc, makingOffer: false, ignoreOffer: false,
      stream: new MediaStream(), tracksAdded: false,
    };
    this.remotes.set(info.peer, remote);
    pc.ontrack = (event) => {
      // A fresh stream object, so the <video> notices the new track.
      const tracks = [...remote.stream.getTracks().filter((x) => x.kind !== event.track.kind), event.track];
      remote.stream = new MediaStream(tracks);
      this.changed("media");
    };
    pc.onicecandidate = (event) => {
      const c = event.candidate;
      if (c && c.candidate) {
        this.signal(info.peer, "candidate", {
          candidate: c.candidate, sdpMid: c.sdpMid ?? undefined,
          sdpMLineIndex: c.sdpMLineIndex ?? undefined, usernameFragment: c.usernameFragment ?? undefined,
        });
      } else if (!c) {
        this.signal(info.peer, "end_of_candidates", {});
      }
    };
    pc.onconnectionstatechange = () => {
      console.info(`préau: call peer ${info.peer} ${pc.connectionState}`);
      this.changed("state");
    };
    pc.onnegotiationneeded = async () => {
      // Only the newcomer starts; later renegotiations come from either side.
      if (!offer && pc.remoteDescription === null) return;
      try {
        remote.makingOffer = true;
        await pc.setLocalDescription();
        this.signal(info.peer, "offer", { sdp: pc.localDescription!.sdp });
      } catch (error) {
        console.warn("préau: offer failed", error);
      } finally {
        remote.makingOffer = false;
      }
    };
    if (offer) {
      this.addTracks(remote);
      // Without local media we still want theirs: ask for it explicitly.
      if (!this.local) {
        pc.addTransceiver("video", { direction: "recvonly" });
        pc.addTransceiver("audio", { direction: "recvonly" });
      }
    }
    return remote;
  }

  /** Our camera and microphone to this peer. The answering side adds them
   * after reading the offer, so they ride on the offer's transceivers and
   * the answer carries them (no second round). */
  private addTracks(remote: Remote): void {
    if (remote.tracksAdded || !this.local) return;
    remote.tracksAdded = true;
    for (const track of this.local.getTracks()) remote.pc.addTrack(track, this.local);
  }

  private signal(to: string, kind: string, fields: Record<string, unknown>): void {
    console.debug(`préau: signal ${kind} to ${to}`);
    this.app.request("call.signal", { call: this.callId, peer: this.peer, to, kind, ...fields })
      .catch((error) => console.warn("préau: signal refused", error));
  }

  private async onSignal(frame: Frame): Promise<void> {
    let remote = this.remotes.get(frame.from);
    if (!remote) {
      // Someone who joined after us: they offer, we answer.
      remote = this.remote({ peer: frame.from, person: { id: "", name: "" }, role: "viewer",
        audio_muted: false, video_muted: false, hand: false, breakout: null }, false);
    }
    const { pc } = remote;
    try {
      if (frame.kind === "offer" || frame.kind === "answer") {
        const collision = frame.kind === "offer" && (remote.makingOffer || pc.signalingState !== "stable");
        remote.ignoreOffer = !remote.polite && collision;
        if (remote.ignoreOffer) return;
        await pc.setRemoteDescription({ type: frame.kind, sdp: frame.sdp });
        if (frame.kind === "offer") {
          this.addTracks(remote);
          await pc.setLocalDescription();
          this.signal(frame.from, "answer", { sdp: pc.localDescription!.sdp });
        }
      } else if (frame.kind === "candidate") {
        // The relayed event nests the candidate ({candidate, sdpMid, …}); the
        // op sends it flat. Accept both.
        const c = typeof frame.candidate === "object" && frame.candidate ? frame.candidate : frame;
        await pc.addIceCandidate({
          candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex,
          usernameFragment: c.usernameFragment,
        }).catch((error) => {
          if (!remote!.ignoreOffer) throw error;
        });
      }
    } catch (error) {
      console.warn("préau: signalling error", error);
    }
  }

  private drop(peer: string): void {
    const remote = this.remotes.get(peer);
    if (!remote) return;
    remote.pc.close();
    this.remotes.delete(peer);
    if (remote.subscription && !this.ended) {
      this.act("sfu.unsubscribe", { subscription: remote.subscription }).catch(() => undefined);
    }
  }

  private applyMutes(): void {
    for (const track of this.local?.getAudioTracks() ?? []) track.enabled = !this.audioMuted;
    for (const track of this.local?.getVideoTracks() ?? []) track.enabled = !this.videoMuted;
  }

  private handle(frame: Frame): void {
    if (frame.call !== this.callId) return;
    switch (frame.ev) {
      case "call.signal":
        void this.onSignal(frame);
        break;
      case "call.peer_joined":
        this.seatedPeers.set(frame.peer.peer, frame.peer as PeerInfo);
        if (this.mode === "sfu") void this.subscribeTo(frame.peer as PeerInfo);
        else this.remote(frame.peer as PeerInfo, false); // the newcomer offers; we answer
        break;
      case "call.peer_left":
        this.seatedPeers.delete(frame.peer);
        this.drop(frame.peer);
        break;
      case "sfu.ended": {
        // The SFU (or a control) ended one of our connections.
        if (frame.target === "publish") {
          this.publisher?.close();
          this.publisher = null;
        } else {
          const entry = [...this.remotes.entries()].find(([, r]) => r.subscription === frame.target);
          if (entry) {
            this.drop(entry[0]);
            // A policy change (teacher-only cameras) allows less: ask again.
            if (frame.reason === "policy" && this.seatedPeers.has(entry[0])) {
              void this.subscribeTo(this.seatedPeers.get(entry[0])!);
            }
          }
        }
        break;
      }
      case "call.peer_updated": {
        const info = frame.peer as PeerInfo;
        if (info.peer === this.peer) {
          this.audioMuted = info.audio_muted;
          this.videoMuted = info.video_muted;
          this.hand = info.hand;
          this.role = info.role;
          this.applyMutes();
        } else {
          const remote = this.remotes.get(info.peer);
          if (remote) remote.info = { ...remote.info, ...info };
        }
        break;
      }
      case "call.admitted":
        if (frame.peer === this.peer) {
          // Admitted from the lobby: the event carries the welcome (peers, ICE
          // servers), and as the newcomer we offer to everyone there.
          this.admitted = true;
          if (frame.ice_servers) this.iceServers = frame.ice_servers as RTCIceServer[];
          this.seated((frame.peers ?? []) as PeerInfo[]);
        }
        break;
      case "call.lobby":
        this.waiting = (frame.waiting ?? []) as PeerInfo[];
        break;
      case "call.controls":
        this.controls = frame.controls ?? this.controls;
        break;
      case "call.moved": {
        // A breakout opened or closed: new company. Drop the old connections;
        // in each new pair the impolite side offers.
        this.breakout = frame.breakout ?? null;
        for (const peer of [...this.remotes.keys()]) this.drop(peer);
        this.seatedPeers = new Map(((frame.peers ?? []) as PeerInfo[]).map((p) => [p.peer, p]));
        for (const info of this.seatedPeers.values()) {
          if (this.mode === "sfu") void this.subscribeTo(info);
          else this.remote(info, !info.polite);
        }
        break;
      }
      case "call.breakouts":
        this.breakouts = { rooms: frame.rooms ?? [], ends: frame.ends ?? null };
        break;
      case "call.mode":
        if (frame.mode === "sfu" && this.mode !== "sfu") {
          this.mode = "sfu";
          if (this.admitted) void this.startSfu();
        }
        break;
      case "call.left":
      case "call.ended":
        this.ended = frame.reason ?? frame.ev;
        this.close();
        break;
      default:
        break;
    }
    this.changed(frame.ev);
  }

  async act(op: string, fields: Record<string, unknown> = {}): Promise<Frame> {
    return this.app.request(op, { call: this.callId, peer: this.peer, ...fields });
  }

  async setMuted(kind: "audio" | "video", muted: boolean): Promise<void> {
    await this.act("call.media", kind === "audio" ? { audio_muted: muted } : { video_muted: muted });
    if (kind === "audio") this.audioMuted = muted;
    else this.videoMuted = muted;
    this.applyMutes();
    this.changed("media");
  }

  async leave(): Promise<void> {
    if (!this.ended) {
      if (this.publisher) await this.act("sfu.unpublish").catch(() => undefined);
      await this.act("call.leave").catch(() => undefined);
    }
    this.close();
  }

  close(): void {
    this.ended = this.ended ?? "closed"; // no unsubscribe ops from here on
    this.publisher?.close();
    this.publisher = null;
    for (const peer of [...this.remotes.keys()]) this.drop(peer);
    for (const track of this.local?.getTracks() ?? []) track.stop();
    this.local = null;
    this.unlisten?.();
    this.unlisten = null;
  }
}
