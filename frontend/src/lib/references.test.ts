import { describe, expect, it } from "vitest";
import type { ScopeDiff } from "../api/types";
import { referrersOf } from "./references";

const scope = (d: Partial<ScopeDiff> & Pick<ScopeDiff, "scope" | "id">): ScopeDiff => ({
  name: "", status: "changed", fields: [], env: [], change_ids: [], after: null, running: [], ...d,
});
const names: Record<string, string> = { s1: "api", s2: "db", s3: "worker", n1: "" };
const nameOf = (id: string) => names[id] || undefined;
const db = { id: "s2", name: "db" };

describe("who refers to a service about to be deleted", () => {
  it("lists the services whose edges end at it, once each, sorted", () => {
    const edges = [
      { source: "s3", target: "s2" },
      { source: "s1", target: "s2" },
      { source: "s1", target: "s2" },
      { source: "s2", target: "s1" },
      { source: "n1", target: "s2" },
    ];
    expect(referrersOf(db, edges, nameOf, [])).toEqual(["api", "worker"]);
  });

  it("counts a staged variable that refers to it, not a removed one or a service being deleted", () => {
    const env = (after: string | null, op: "added" | "changed" | "removed" = "added") => ({
      key: "DB_URL", op, before: null, after, change_ids: ["c"], resolved: null, problems: [],
    });
    const diff = [
      scope({ scope: "service", id: "tmp_1", name: "web", status: "created", env: [env("${{db.DATABASE_URL}}")] }),
      scope({ scope: "service", id: "s1", name: "api", env: [env(null, "removed")] }),
      scope({ scope: "service", id: "s3", name: "worker", status: "deleted", env: [env("${{db.X}}")] }),
      scope({ scope: "service", id: "s4", name: "dbx", env: [env("${{dbx.HOST}}")] }),
    ];
    expect(referrersOf(db, [], nameOf, diff)).toEqual(["web"]);
  });

  it("is empty when nothing refers to it", () => {
    expect(referrersOf(db, [{ source: "s2", target: "s1" }], nameOf, undefined)).toEqual([]);
  });
});
