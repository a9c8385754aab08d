import { describe, expect, it } from "vitest";
import type { ChangeKind, PendingChange, ScopeDiff } from "../api/types";
import { envChangeOf, formatValue, stagedEnvOfScope, stagedProjectName, stagedServices, withStaged } from "./stagedDiff";

const scope = (d: Partial<ScopeDiff> & Pick<ScopeDiff, "scope" | "id">): ScopeDiff => ({
  name: "", status: "changed", fields: [], env: [], change_ids: [], after: null, running: [], ...d,
});

// What the server's diff says; the UI only reads it.
const diff: ScopeDiff[] = [
  scope({ scope: "project", id: "p1", name: "shop", fields: [{ field: "name", before: "shop", after: "shop2" }] }),
  scope({ scope: "service", id: "s1", name: "api-v2", change_ids: ["c1"], after: { name: "api-v2", replicas: 3 } }),
  scope({ scope: "service", id: "s2", name: "db", status: "deleted" }),
  scope({ scope: "service", id: "tmp_1", name: "web", status: "created", after: { name: "web", port: 81 } }),
];

describe("reading the server's diff", () => {
  it("gives each service node its staged name, creation or deletion", () => {
    const m = stagedServices(diff);
    expect(m.get("s1")).toEqual({ name: "api-v2", deleting: false, creating: false, pending: true, config: undefined });
    expect(m.get("s2")).toMatchObject({ deleting: true, creating: false });
    expect(m.get("tmp_1")).toEqual({ name: "web", deleting: false, creating: true, pending: false, config: { name: "web", port: 81 } });
    expect(m.has("p1")).toBe(false);
  });

  it("marks a service listed only because its settings differ from what runs as not pending", () => {
    const m = stagedServices([scope({ scope: "service", id: "s3", name: "db", running: [{ field: "replicas", before: 1, after: 2 }] })]);
    expect(m.get("s3")).toMatchObject({ pending: false, deleting: false, creating: false });
  });

  it("knows a staged project rename and a service as it will be", () => {
    expect(stagedProjectName(diff)).toBe("shop2");
    expect(stagedProjectName([])).toBeNull();
    expect(withStaged({ id: "s1", name: "api", replicas: 1, port: 80 }, diff, "s1")).toEqual({ id: "s1", name: "api-v2", replicas: 3, port: 80 });
    expect(withStaged({ id: "s9", replicas: 1 }, diff, "s9")).toEqual({ id: "s9", replicas: 1 });
  });

  it("shows values as text", () => {
    expect([formatValue(null), formatValue("a"), formatValue(2), formatValue(["sh"])]).toEqual([null, "a", "2", '["sh"]']);
  });
});

describe("stagedEnvOfScope", () => {
  const change = (id: string, kind: ChangeKind, payload: Record<string, unknown>, before: Record<string, unknown> | null = null): PendingChange =>
    ({ id, project_id: "p1", kind, payload, target_id: null, target_temp_id: null, before, created_by: "u1", created_at: "2026-01-01T00:00:00Z" });
  const pending = [
    change("c1", "env_var.create", { scope: "project", scope_id: "p1", key: "A", value: "1" }),
    change("c2", "env_var.create", { scope: "group", scope_id: "g1", key: "B", value: "2" }),
    // Updates and deletes carry their scope and key only in `before`.
    change("c3", "env_var.delete", {}, { scope: "group", scope_id: "g1", key: "C" }),
    change("c4", "env_var.update", { value: "4" }, { scope: "project", scope_id: "p1", key: "D" }),
    change("c5", "service.update", { name: "x" }),
  ];

  it("places deletes and updates by the scope they had before", () => {
    expect(stagedEnvOfScope(pending, "project", "p1").map((c) => c.id)).toEqual(["c1", "c4"]);
    expect(stagedEnvOfScope(pending, "group", "g1").map((c) => c.id)).toEqual(["c2", "c3"]);
    expect(stagedEnvOfScope(pending, "group", "g2")).toEqual([]);
  });

  it("names the key of a staged delete and the new value of an update", () => {
    expect(envChangeOf(pending[2]!)).toEqual({ scope: "group", scopeId: "g1", key: "C", value: undefined });
    expect(envChangeOf(pending[3]!)).toEqual({ scope: "project", scopeId: "p1", key: "D", value: "4" });
  });
});
