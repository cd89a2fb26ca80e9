// A video call in mesh mode (docs: rtc/room.py, server/gateway/call_ops.py):
// signalling over /ws (call.signal), one RTCPeerConnection per other peer,
// "perfect negotiation" with the polite flag the server assigns, trickle ICE.
// The peer that arrives offers to those already there.

import type { App } from "./app";
import type { Frame } from "./live";

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

  /** Seated: offer to everyone already there. */
  private seated(peers: PeerInfo[]): void {
    for (const info of peers) this.remote(info, true);
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
        // The newcomer offers; we get ready to answer with our media.
        this.remote(frame.peer as PeerInfo, false);
        break;
      case "call.peer_left":
        this.drop(frame.peer);
        break;
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
        for (const info of (frame.peers ?? []) as PeerInfo[]) this.remote(info, !info.polite);
        break;
      }
      case "call.breakouts":
        this.breakouts = { rooms: frame.rooms ?? [], ends: frame.ends ?? null };
        break;
      case "call.mode":
        this.mode = frame.mode;
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
    if (!this.ended) await this.act("call.leave").catch(() => undefined);
    this.close();
  }

  close(): void {
    for (const peer of [...this.remotes.keys()]) this.drop(peer);
    for (const track of this.local?.getTracks() ?? []) track.stop();
    this.local = null;
    this.unlisten?.();
    this.unlisten = null;
  }
}
