import { describe, expect, it } from "vitest";
import type { EnvVar } from "../api/types";
import { resolveEnv } from "./envInheritance";

const v = (scope: EnvVar["scope"], key: string, value: string): EnvVar => ({
  id: `${scope}-${key}`, scope, scope_id: scope, key, value, created_at: "", updated_at: "",
});

describe("resolveEnv", () => {
  it("lets service override group override project and records what was shadowed", () => {
    const rows = resolveEnv({
      project: [v("project", "REGION", "eu"), v("project", "LOG", "info")],
      group: [v("group", "LOG", "warn")],
      service: [v("service", "LOG", "debug"), v("service", "PORT", "80")],
    });
    expect(rows.map((r) => [r.key, r.value, r.from, r.overrides])).toEqual([
      ["LOG", "debug", "service", [{ scope: "project", value: "info" }, { scope: "group", value: "warn" }]],
      ["PORT", "80", "service", []],
      ["REGION", "eu", "project", []],
    ]);
    expect(rows[0]!.own?.id).toBe("service-LOG");
    expect(rows[2]!.own).toBeNull();
  });

  it("applies staged edits on top and marks them", () => {
    const rows = resolveEnv(
      { project: [v("project", "LOG", "info")], service: [v("service", "LOG", "debug"), v("service", "GONE", "x")] },
      [
        { changeId: "c1", scope: "service", key: "LOG", value: null, op: "removed" },
        { changeId: "c2", scope: "service", key: "NEW", value: "1", op: "added" },
        { changeId: "c3", scope: "service", key: "GONE", value: null, op: "removed" },
      ],
    );
    const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
    expect(byKey["LOG"]).toMatchObject({ value: "info", from: "project", overrides: [] });
    expect(byKey["LOG"]!.staged.map((s) => s.changeId)).toEqual(["c1"]);
    expect(byKey["NEW"]).toMatchObject({ value: "1", from: "service" });
    expect(byKey["GONE"]).toMatchObject({ value: null, from: null });
  });
});
