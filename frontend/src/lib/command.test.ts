import { describe, expect, it } from "vitest";
import { formatCommand, parseCommand } from "./command";

describe("parseCommand", () => {
  it.each([
    ["", null],
    ["   ", null],
    ['["sh","-c","echo hi; httpd -f"]', ["sh", "-c", "echo hi; httpd -f"]],
    ['sh -c "echo hi; httpd -f"', ["sh", "-c", "echo hi; httpd -f"]],
    ["node  server.js --port=80", ["node", "server.js", "--port=80"]],
    ["echo ''", ["echo", ""]],
    ["a\\ b c", ["a b", "c"]],
  ])("parses %j", (text, want) => {
    expect(parseCommand(text)).toEqual(want);
  });

  it("rejects unclosed quotes and non-string arrays", () => {
    expect(() => parseCommand('sh -c "echo')).toThrow("Unclosed quote.");
    expect(() => parseCommand("[1, 2]")).toThrow("Use a JSON array of strings.");
  });

  it("round-trips through formatCommand", () => {
    for (const cmd of [["sh", "-c", "echo hello-from-dk; httpd -f -p 8080 -h /www"], ["node", "server.js"]]) {
      expect(parseCommand(formatCommand(cmd))).toEqual(cmd);
    }
  });
});
