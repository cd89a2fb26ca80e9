// The /ws connection: request/reply by id, events to listeners, and
// reconnection with capped exponential backoff and jitter. Resuming rooms is
// the caller's job (onOpen), because only it knows the last seq of each room.

export interface WsError {
  code: string;
  message: string;
  retry_after?: number;
  until?: number;
}

export class OpError extends Error {
  constructor(readonly error: WsError) {
    super(error.message);
  }
  get code(): string {
    return this.error.code;
  }
}

export type Frame = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

type Pending = { resolve: (f: Frame) => void; reject: (e: Error) => void; timer: number };

export type LiveState = "connecting" | "open" | "closed";

export class Live {
  private ws: WebSocket | null = null;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private attempts = 0;
  private stopped = false;
  private retryTimer = 0;
  state: LiveState = "closed";

  constructor(
    private readonly url: string,
    private readonly hooks: {
      onHello: (hello: Frame) => void | Promise<void>;
      onEvent: (event: Frame) => void;
      onState: (state: LiveState) => void;
      // Close codes after which reconnecting is useless (session ended, account closed).
      onEnded: (code: number) => void;
      // Asked before each retry: a refused upgrade (401) looks like a network
      // error to a browser, so the caller checks the session over HTTP.
      sessionAlive: () => Promise<boolean>;
    },
  ) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.ws?.close(1000);
    this.ws = null;
    this.setState("closed");
  }

  /** Close the socket as if the network dropped it (used by the tests' reconnect check too). */
  drop(): void {
    this.ws?.close(4000);
  }

  request(op: string, params: Frame = {}, timeoutMs = 10000): Promise<Frame> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new OpError({ code: "unavailable", message: "not connected" }));
    }
    const id = this.nextId++;
    return new Promise<Frame>((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(new OpError({ code: "unavailable", message: "no reply" }));
        // Unanswered on a socket that still looks open: a dead path (a
        // middlebox lost the flow) or a node that stopped answering. A browser
        // does not ping, so its close could come much later: give the socket
        // up now and reconnect; the send goes again on the next one (onHello).
        if (this.ws === ws) this.abandon(ws);
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ id, op, ...params }));
    });
  }

  private setState(state: LiveState): void {
    this.state = state;
    this.hooks.onState(state);
  }

  private open(): void {
    this.setState("connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onmessage = (msg) => {
      if (this.ws !== ws) return; // given up (abandon): its late frames are not ours
      let frame: Frame;
      try {
        frame = JSON.parse(String(msg.data));
      } catch {
        console.warn("préau: unreadable frame");
        return;
      }
      if ("re" in frame) {
        const waiter = this.pending.get(frame.re);
        if (!waiter) return;
        this.pending.delete(frame.re);
        window.clearTimeout(waiter.timer);
        if (frame.ok) waiter.resolve(frame);
        else waiter.reject(new OpError(frame.error));
      } else if (frame.ev === "hello") {
        this.attempts = 0;
        this.setState("open");
        void this.hooks.onHello(frame);
      } else if (typeof frame.ev === "string") {
        this.hooks.onEvent(frame);
      }
    };
    ws.onclose = (event) => this.closed(ws, event.code);
  }

  /** Treat ``ws`` as closed now (its own close event is then ignored). */
  private abandon(ws: WebSocket): void {
    this.closed(ws, 4000);
    ws.close(4000);
  }

  private closed(ws: WebSocket, code: number): void {
    if (this.ws !== ws) return;
    this.ws = null;
    for (const waiter of this.pending.values()) {
      window.clearTimeout(waiter.timer);
      waiter.reject(new OpError({ code: "unavailable", message: "connection lost" }));
    }
    this.pending.clear();
    this.setState("closed");
    if (this.stopped) return;
    if (code === 4001 || code === 4003) {
      this.hooks.onEnded(code);
      return;
    }
    // 1012 (service restart): this node is shutting down for an upgrade;
    // reconnect at once (the load balancer picks another node) and resume
    // every room with since. 1008 (flooding) asks us to back off harder.
    if (code === 1012 && this.attempts === 0) {
      this.attempts = 1;
      this.retryTimer = window.setTimeout(() => { if (!this.stopped) this.open(); }, 50 + Math.random() * 200);
      return;
    }
    const base = code === 1008 ? 10000 : 500;
    const delay = Math.min(30000, base * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    this.attempts += 1;
    this.retryTimer = window.setTimeout(async () => {
      if (this.stopped) return;
      if (await this.hooks.sessionAlive()) this.open();
      else this.hooks.onEnded(4001);
    }, delay);
  }
}
