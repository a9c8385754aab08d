import { describe, expect, it } from "vitest";
import { filterLines, formatLogTime, logFileName, logFileText, parseLogTime, replicaOptions, splitMatches, type LogLine } from "./logLines";

const line = (n: number, text: string, more: Partial<LogLine> = {}): LogLine => ({ n, container: "", stream: "stdout", text, ...more });

const LINES: LogLine[] = [
  line(0, "GET /health 200", { container: "aaaaaaaaaaaa", replica: 0, ts: "2026-12-06T02:23:14.123456789Z" }),
  line(1, "Connection refused", { container: "bbbbbbbbbbbb", replica: 1, stream: "stderr", ts: "2026-12-06T02:23:15.5Z" }),
  line(2, "get /users 404", { container: "aaaaaaaaaaaa", replica: 0, ts: "2026-12-06T02:23:16Z" }),
  line(3, "— container exited —", { container: "bbbbbbbbbbbb", replica: 1, stream: "event", event: true }),
];

describe("parseLogTime and formatLogTime", () => {
  it("reads Docker's nanoseconds to the millisecond", () => {
    expect(parseLogTime("2026-12-06T02:23:14.123456789Z")?.toISOString()).toBe("2026-12-06T02:23:14.123Z");
    expect(parseLogTime("2026-12-06T02:23:16Z")?.toISOString()).toBe("2026-12-06T02:23:16.000Z");
  });

  it.each([undefined, "", "yesterday"])("has no time for %j", (ts) => {
    expect(parseLogTime(ts)).toBeNull();
    expect(formatLogTime(ts)).toBe("");
  });

  it("formats the local time as HH:MM:SS.mmm", () => {
    const ts = "2026-12-06T02:23:04.007891Z";
    const local = new Date(Date.UTC(2026, 11, 6, 2, 23, 4, 7));
    const want = [local.getHours(), local.getMinutes(), local.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":") + ".007";
    expect(formatLogTime(ts)).toBe(want);
    expect(formatLogTime(ts)).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
  });
});

describe("filterLines", () => {
  it("keeps every line without a filter", () => {
    expect(filterLines(LINES, { query: "", container: "" })).toEqual(LINES);
  });

  it("narrows to lines containing the text, any case", () => {
    expect(filterLines(LINES, { query: "GET", container: "" }).map((l) => l.n)).toEqual([0, 2]);
    expect(filterLines(LINES, { query: "refused", container: "" }).map((l) => l.n)).toEqual([1]);
    expect(filterLines(LINES, { query: "nothing like it", container: "" })).toEqual([]);
  });

  it("narrows to one replica's lines, its events included, and combines with the text", () => {
    expect(filterLines(LINES, { query: "", container: "bbbbbbbbbbbb" }).map((l) => l.n)).toEqual([1, 3]);
    expect(filterLines(LINES, { query: "users", container: "aaaaaaaaaaaa" }).map((l) => l.n)).toEqual([2]);
    expect(filterLines(LINES, { query: "users", container: "bbbbbbbbbbbb" })).toEqual([]);
  });
});

describe("splitMatches", () => {
  it.each([
    ["abc", "", [{ text: "abc", match: false }]],
    ["abc", "x", [{ text: "abc", match: false }]],
    ["GET /get", "get", [{ text: "GET", match: true }, { text: " /", match: false }, { text: "get", match: true }]],
    ["aaa", "a", [{ text: "a", match: true }, { text: "a", match: true }, { text: "a", match: true }]],
    ["a-Err-b", "err", [{ text: "a-", match: false }, { text: "Err", match: true }, { text: "-b", match: false }]],
    ["", "x", [{ text: "", match: false }]],
  ])("splits %j by %j", (text, query, want) => {
    expect(splitMatches(text, query)).toEqual(want);
    expect(splitMatches(text, query).map((p) => p.text).join("")).toBe(text);
  });
});

describe("replicaOptions", () => {
  it("lists each container once, by replica index", () => {
    const lines = [line(0, "x", { container: "cccccccccccc", replica: 1 }), ...LINES, line(9, "build step")];
    expect(replicaOptions(lines)).toEqual([
      { container: "aaaaaaaaaaaa", replica: 0, label: "replica 0 · aaaaaaaaaaaa" },
      { container: "cccccccccccc", replica: 1, label: "replica 1 · cccccccccccc" },
      { container: "bbbbbbbbbbbb", replica: 1, label: "replica 1 · bbbbbbbbbbbb" },
    ]);
  });

  it("names a container by its id when the stream gives no replica", () => {
    expect(replicaOptions([line(0, "x", { container: "dddddddddddd" })])).toEqual([{ container: "dddddddddddd", replica: undefined, label: "dddddddddddd" }]);
  });
});

describe("logFileText and logFileName", () => {
  it("prefixes each line with its ISO time and replica, and marks stderr", () => {
    expect(logFileText([...LINES, line(4, "Step 1/3 : FROM busybox")])).toBe(
      [
        "2026-12-06T02:23:14.123456789Z [replica 0 · aaaaaaaaaaaa] GET /health 200",
        "2026-12-06T02:23:15.5Z [replica 1 · bbbbbbbbbbbb] stderr: Connection refused",
        "2026-12-06T02:23:16Z [replica 0 · aaaaaaaaaaaa] get /users 404",
        "[replica 1 · bbbbbbbbbbbb] — container exited —",
        "Step 1/3 : FROM busybox",
        "",
      ].join("\n"),
    );
    expect(logFileText([])).toBe("");
  });

  it.each([
    ["web", "web-20261206-022314Z.log"],
    ["api server/v2", "api-server-v2-20261206-022314Z.log"],
    ["web-deployment-0a1b2c3d", "web-deployment-0a1b2c3d-20261206-022314Z.log"],
    ["///", "logs-20261206-022314Z.log"],
  ])("names the file for %j", (name, want) => {
    expect(logFileName(name, new Date("2026-12-06T02:23:14.999Z"))).toBe(want);
  });
});
