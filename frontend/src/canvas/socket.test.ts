import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CanvasSocket, type SocketStatus } from "./socket";

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  send(s: string) {
    this.sent.push(s);
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(type: string, payload: object = {}) {
    this.onmessage?.({ data: JSON.stringify({ type, payload }) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe("CanvasSocket", () => {
  beforeEach(() => {
    FakeSocket.all = [];
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });
  afterEach(() => vi.useRealTimers());

  function make(overrides: Partial<ConstructorParameters<typeof CanvasSocket>[0]> = {}) {
    const statuses: SocketStatus[] = [];
    const messages: string[] = [];
    const lost = vi.fn();
    const s = new CanvasSocket({
      url: "ws://x/api/projects/p/canvas/ws",
      token: async () => "tok",
      refresh: async () => true,
      onMessage: (m) => messages.push(m.type),
      onStatus: (st) => statuses.push(st),
      onAuthLost: lost,
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
      ...overrides,
    });
    return { s, statuses, messages, lost };
  }

  it("sends the auth message first and reports open on the first server message", async () => {
    const { s, statuses, messages } = make();
    s.start();
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    const ws = FakeSocket.all[0]!;
    ws.open();
    expect(JSON.parse(ws.sent[0]!)).toEqual({ type: "auth", payload: { token: "tok" } });
    ws.receive("canvas:state", { nodes: [], edges: [] });
    expect(statuses).toEqual(["connecting", "open"]);
    expect(messages).toEqual(["canvas:state"]);
  });

  it("reconnects with growing delays and resets the backoff once connected", async () => {
    vi.spyOn(Math, "random").mockReturnValue(1);
    const { s, statuses } = make();
    s.start();
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    FakeSocket.all[0]!.drop();
    expect(statuses.at(-1)).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.all[1]!.drop();
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeSocket.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(FakeSocket.all).toHaveLength(3);
    const ws = FakeSocket.all[2]!;
    ws.open();
    ws.receive("canvas:state");
    expect(statuses.at(-1)).toBe("open");
    ws.drop();
    await vi.advanceTimersByTimeAsync(500);
    await flush();
    expect(FakeSocket.all).toHaveLength(4);
    s.stop();
  });

  it("refreshes the token after a 4001 close and reports a lost session when that fails", async () => {
    const refresh = vi.fn(async () => false);
    const { s, lost } = make({ refresh });
    s.start();
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    FakeSocket.all[0]!.drop(4001);
    await flush();
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(lost).toHaveBeenCalledTimes(1);
    s.stop();
  });

  it("does not reconnect after stop", async () => {
    const { s } = make();
    s.start();
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    s.stop();
    FakeSocket.all[0]!.drop();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(FakeSocket.all).toHaveLength(1);
  });
});
