import { describe, expect, it } from "vitest";
import { formatBytes, formatCpus } from "./units";

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1536, "1.5 KiB"],
    [25276203008, "23.5 GiB"],
    [512 * 1024 ** 3, "512 GiB"],
    [null, "—"],
    [-1, "—"],
  ])("formats %j", (n, want) => {
    expect(formatBytes(n)).toBe(want);
  });
});

describe("formatCpus", () => {
  it.each([
    [1, "1 CPU"],
    [2, "2 CPUs"],
    [0.5, "0.5 CPUs"],
    [1.25, "1.25 CPUs"],
  ])("formats %j", (n, want) => {
    expect(formatCpus(n)).toBe(want);
  });
});
