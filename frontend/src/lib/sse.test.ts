import { describe, expect, it } from "vitest";
import { SSEParser, backoffDelay } from "./sse";

describe("SSEParser", () => {
  it("parses data lines, named events and drops comments", () => {
    const p = new SSEParser();
    const events = p.feed(': ping\n\ndata: {"line":"a"}\n\nevent: end\ndata: \n\n');
    expect(events).toEqual([
      { event: "message", data: '{"line":"a"}' },
      { event: "end", data: "" },
    ]);
  });

  it("handles chunks split inside lines and CRLF pairs", () => {
    const p = new SSEParser();
    const text = 'data: {"line":"hello"}\r\n\r\ndata: two\r\ndata: lines\r\n\r\n';
    const got = [];
    for (let i = 0; i < text.length; i += 3) got.push(...p.feed(text.slice(i, i + 3)));
    expect(got).toEqual([
      { event: "message", data: '{"line":"hello"}' },
      { event: "message", data: "two\nlines" },
    ]);
  });
});

describe("backoffDelay", () => {
  it("grows exponentially, stays within [ceiling/2, ceiling] and is capped", () => {
    expect(backoffDelay(0, () => 0)).toBe(250);
    expect(backoffDelay(0, () => 1)).toBe(500);
    expect(backoffDelay(3, () => 1)).toBe(4000);
    expect(backoffDelay(20, () => 1)).toBe(10_000);
    expect(backoffDelay(20, () => 0)).toBe(5000);
  });
});
