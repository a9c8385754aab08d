import { describe, expect, it } from "vitest";
import type { EnvVar, PendingChange, Service } from "../api/types";
import { envChangeOf, foldPendingChanges, kindOf, stagedByService, stagedEnvOfScope } from "./pendingDiff";

const api = {
  id: "s1",
  project_id: "p1",
  name: "api",
  slug: "api",
  source: { type: "image", image: "nginx:1.25" },
  port: 80,
  command: null,
  replicas: 1,
  resources: null,
  volumes: [],
  health_check: null,
  restart_policy: "unless-stopped",
  status: "running",
  active_deployment_id: "d1",
  domains: [],
  created_at: "",
  updated_at: "",
} as Service;

const envVar = (id: string, key: string, value: string, scope: EnvVar["scope"] = "service", scope_id = "s1"): EnvVar => ({
  id, key, value, scope, scope_id, created_at: "", updated_at: "",
});

const ctx = { projectId: "p1", projectName: "shop", services: [api], envVars: [envVar("e1", "LOG", "info"), envVar("e2", "OLD", "1")] };

const change = (id: string, change_type: string, extra: Partial<PendingChange> = {}): PendingChange => ({ id, change_type, ...extra });

describe("kindOf", () => {
  it.each([
    [{ id: "1", change_type: "service.delete" }, { entity: "service", action: "delete" }],
    [{ id: "1", type: "env_var.create" }, { entity: "env_var", action: "create" }],
    [{ id: "1", kind: "project.rename" }, { entity: "project", action: "update" }],
    [{ id: "1", entity_type: "group", action: "create" }, { entity: "group", action: "create" }],
    [{ id: "1", change_type: "weird" }, { entity: "other", action: "other" }],
  ])("parses %j", (c, want) => {
    expect(kindOf(c as PendingChange)).toEqual(want);
  });
});

describe("foldPendingChanges", () => {
  it("folds successive edits of one field into first-before and last-after", () => {
    const groups = foldPendingChanges(
      [
        change("c1", "service.update", { target_id: "s1", payload: { replicas: 2 } }),
        change("c2", "service.update", { target_id: "s1", payload: { replicas: 3, source: { type: "image", image: "nginx:1.27" } } }),
      ],
      ctx,
    );
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({ scope: "service", id: "s1", title: "api", badge: null, changeIds: ["c1", "c2"] });
    expect(groups[0]!.fields).toEqual([
      { field: "replicas", before: "1", after: "3" },
      { field: "source.type", before: "image", after: "image" },
      { field: "source.image", before: "nginx:1.25", after: "nginx:1.27" },
    ].filter((r) => r.before !== r.after));
  });

  it("marks created services and shows their fields without a before", () => {
    const groups = foldPendingChanges(
      [change("c1", "service.create", { target_temp_id: "tmp-1", payload: { name: "web", source: { type: "image", image: "busybox" }, port: 8080, command: null, volumes: [], x: 10 } })],
      ctx,
    );
    expect(groups[0]).toMatchObject({ id: "tmp-1", title: "web", badge: "creating" });
    expect(groups[0]!.fields).toContainEqual({ field: "port", before: null, after: "8080" });
    expect(groups[0]!.fields).toContainEqual({ field: "name", before: null, after: "web" });
    expect(groups[0]!.fields.map((f) => f.field)).toEqual(["name", "source.type", "source.image", "port"]);
  });

  it("lists the variables a service is created with", () => {
    const groups = foldPendingChanges(
      [change("c1", "service.create", { target_temp_id: "tmp-1", payload: { name: "db", env_vars: { POSTGRES_DB: "app" } } })],
      ctx,
    );
    expect(groups[0]!.env).toEqual([{ key: "POSTGRES_DB", op: "added", before: null, after: "app", changeIds: ["c1"] }]);
  });

  it("drops a service created and deleted before deploy", () => {
    const groups = foldPendingChanges(
      [
        change("c1", "service.create", { target_temp_id: "tmp-1", payload: { name: "web" } }),
        change("c2", "service.delete", { target_temp_id: "tmp-1" }),
      ],
      ctx,
    );
    expect(groups).toEqual([]);
  });

  it("shows a deleting badge and no field rows for a staged delete", () => {
    const groups = foldPendingChanges([change("c1", "service.delete", { target_id: "s1" })], ctx);
    expect(groups).toEqual([
      { key: "service:s1", scope: "service", id: "s1", title: "api", badge: "deleting", fields: [], env: [], changeIds: ["c1"] },
    ]);
  });

  it("folds env vars into added, changed and removed", () => {
    const groups = foldPendingChanges(
      [
        change("c1", "env_var.create", { payload: { scope: "service", scope_id: "s1", key: "NEW", value: "a" } }),
        change("c2", "env_var.update", { target_id: "e1", payload: { value: "debug" } }),
        change("c3", "env_var.delete", { target_id: "e2" }),
        change("c4", "env_var.update", { payload: { id: "e1", value: "warn" } }),
        change("c5", "env_var.create", { payload: { scope: "service", scope_id: "s1", key: "TMP", value: "x" } }),
        change("c6", "env_var.delete", { payload: { scope: "service", scope_id: "s1", key: "TMP" } }),
      ],
      ctx,
    );
    expect(groups).toHaveLength(1);
    expect(groups[0]!.env).toEqual([
      { key: "NEW", op: "added", before: null, after: "a", changeIds: ["c1"] },
      { key: "LOG", op: "changed", before: "info", after: "warn", changeIds: ["c2", "c4"] },
      { key: "OLD", op: "removed", before: "1", after: null, changeIds: ["c3"] },
    ]);
  });

  it("groups by project, service and group in first-touched order", () => {
    const groups = foldPendingChanges(
      [
        change("c1", "project.update", { payload: { name: "shop2" } }),
        change("c2", "env_var.create", { payload: { scope: "group", scope_id: "g1", key: "REGION", value: "eu" } }),
        change("c3", "service.update", { target_id: "s1", payload: { port: 81 } }),
      ],
      { ...ctx, groups: { g1: "backend" } },
    );
    expect(groups.map((g) => [g.scope, g.title])).toEqual([
      ["project", "shop"],
      ["group", "backend"],
      ["service", "api"],
    ]);
    expect(groups[0]!.fields).toEqual([{ field: "name", before: "shop", after: "shop2" }]);
  });
});

describe("stagedByService", () => {
  it("reports staged renames and deletes per service", () => {
    const m = stagedByService([
      change("c1", "service.update", { target_id: "s1", payload: { name: "api-v2" } }),
      change("c2", "service.delete", { target_id: "s2" }),
    ]);
    expect(m.get("s1")).toEqual({ name: "api-v2", deleting: false, creating: false });
    const created = stagedByService([
      change("c3", "service.create", { target_temp_id: "tmp-1", payload: { name: "web", source: { type: "image", image: "a:1" }, port: 80 } }),
      change("c4", "service.update", { target_id: "tmp-1", payload: { port: 81 } }),
    ]).get("tmp-1");
    expect(created).toEqual({ name: "web", creating: true, deleting: false, config: { name: "web", source: { type: "image", image: "a:1" }, port: 81 } });
    expect(m.get("s2")).toEqual({ deleting: true, creating: false });
  });
});

describe("stagedEnvOfScope", () => {
  const change = (id: string, kind: string, payload: Record<string, unknown>, before: Record<string, unknown> | null = null): PendingChange =>
    ({ id, project_id: "p1", kind, payload, target_id: null, target_temp_id: null, before, created_by: "u1", created_at: "2026-01-01T00:00:00Z" }) as PendingChange;
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
