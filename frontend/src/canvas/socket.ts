import type { ClientMessage, ClientPayload, ServerMessage } from "../api/types";
import { backoffDelay } from "../lib/sse";

export type SocketStatus = "connecting" | "open" | "reconnecting" | "closed";

/** Sends one client message; false when the socket is not open (nothing was sent). */
export type Send = <T extends ClientMessage["type"]>(type: T, payload: ClientPayload<T>) => boolean;

export interface CanvasSocketOptions {
  url: string;
  /** A fresh access token for the auth message; null when the session is gone. */
  token: () => Promise<string | null>;
  /** Forces a token refresh after the server closed the socket with 4001. */
  refresh: () => Promise<boolean>;
  onMessage: (msg: ServerMessage) => void;
  onStatus: (status: SocketStatus, attempt: number) => void;
  onAuthLost: () => void;
  WebSocketImpl?: typeof WebSocket;
}

/**
 * The canvas WebSocket with the auth handshake and reconnects with jittered exponential backoff.
 * Every (re)connection starts from the server's full state messages, so the caller treats
 * `canvas:state` as a resync and replaces what it had.
 */
export class CanvasSocket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private authFailures = 0;
  private readonly opts: CanvasSocketOptions;

  constructor(opts: CanvasSocketOptions) {
    this.opts = opts;
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "bye");
    this.opts.onStatus("closed", 0);
  }

  send<T extends ClientMessage["type"]>(type: T, payload: ClientPayload<T>): boolean {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify({ type, payload }));
    return true;
  }

  get isOpen(): boolean {
    return this.ws?.readyState === 1;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.opts.onStatus(this.attempt === 0 ? "connecting" : "reconnecting", this.attempt);
    const token = await this.opts.token();
    if (this.stopped) return;
    if (!token) {
      this.opts.onAuthLost();
      return;
    }
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    const ws = new Impl(this.opts.url);
    this.ws = ws;
    let authed = false;
    ws.onopen = () => {
      const auth: ClientMessage = { type: "auth", payload: { token } };
      ws.send(JSON.stringify(auth));
    };
    ws.onmessage = (ev) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(String(ev.data)) as ServerMessage;
      } catch {
        return;
      }
      if (!authed) {
        authed = true;
        this.attempt = 0;
        this.authFailures = 0;
        this.opts.onStatus("open", 0);
      }
      this.opts.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === 4001) {
        this.authFailures += 1;
        if (this.authFailures > 2) {
          this.opts.onAuthLost();
          return;
        }
        void this.opts.refresh().then((ok) => {
          if (!ok) this.opts.onAuthLost();
          else this.schedule();
        });
        return;
      }
      this.schedule();
    };
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.opts.onStatus("reconnecting", this.attempt);
    this.timer = setTimeout(() => void this.connect(), delay);
  }
}

export function canvasSocketUrl(projectId: string, loc: Location = window.location): string {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${loc.host}/api/projects/${encodeURIComponent(projectId)}/canvas/ws`;
}
