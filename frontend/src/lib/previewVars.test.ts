import { describe, expect, it } from "vitest";
import { formatVars, parseVars } from "./previewVars";

describe("preview variables as KEY=value lines", () => {
  it("reads lines, skipping blanks and comments, keeping '=' in values", () => {
    expect(parseVars("A=1\n\n# note\n  B=x=y  \nEMPTY=")).toEqual({ A: "1", B: "x=y", EMPTY: "" });
  });
  it("refuses a line without a key", () => {
    expect(() => parseVars("=1")).toThrow('"=1" is not KEY=value');
    expect(() => parseVars("JUSTAKEY")).toThrow('"JUSTAKEY" is not KEY=value');
  });
  it("writes what it reads", () => {
    expect(parseVars(formatVars({ A: "1", B: "two" }))).toEqual({ A: "1", B: "two" });
  });
});
