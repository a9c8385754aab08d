import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { PendingChange, ScopeDiff } from "../api/types";

/**
 * What the staged changes would do, as the server's Plan replays them (`GET .../pending-changes/diff`):
 * the UI renders it and never replays changes itself. Fetched again whenever the staged log changes.
 */
export function usePendingDiff(projectId: string, changes: PendingChange[] | undefined, enabled = true) {
  const api = useApi();
  const ids = (changes ?? []).map((c) => c.id).join(",");
  const query = useQuery({
    queryKey: [...keys.pending(projectId), "diff", ids],
    queryFn: async () => (await api.get<{ data: ScopeDiff[] }>(`/projects/${projectId}/pending-changes/diff`)).data,
    enabled: enabled && ids !== "",
    placeholderData: keepPreviousData,
  });
  return { ...query, data: ids === "" ? [] : query.data };
}

/** One display string per value: strings as they are, anything else as JSON. */
export function formatValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/**
 * A drift value ("differs from running"): a variable (field `env.KEY`) is masked until revealed,
 * like every variable value; null means the variable is not there on that side.
 */
export function driftValue(field: string, value: unknown, reveal: boolean): string | null {
  const text = formatValue(value);
  if (text === null || !field.startsWith("env.") || reveal) return text;
  return "•".repeat(Math.min(12, Math.max(6, text.length)));
}

/** Staged state of a service's canvas node and panel, from the diff. */
export interface StagedNodeState {
  name: string;
  deleting: boolean;
  creating: boolean;
  /** Staged changes target the service (its node shows a pending-change dot). */
  pending: boolean;
  /** The service as it will be, for a service that is only staged (its node shows source and port). */
  config?: Record<string, unknown>;
}

export function stagedServices(diff: ScopeDiff[] | undefined): Map<string, StagedNodeState> {
  const out = new Map<string, StagedNodeState>();
  for (const d of diff ?? []) {
    if (d.scope !== "service") continue;
    const creating = d.status === "created";
    out.set(d.id, {
      name: d.name,
      deleting: d.status === "deleted",
      creating,
      pending: d.change_ids.length > 0,
      config: creating ? (d.after ?? undefined) : undefined,
    });
  }
  return out;
}

/** The project's name as it will be after deploy, when a rename is staged. */
export function stagedProjectName(diff: ScopeDiff[] | undefined): string | null {
  const rename = diff?.find((d) => d.scope === "project")?.fields.find((f) => f.field === "name");
  return typeof rename?.after === "string" ? rename.after : null;
}

/** A service as it will be after deploy: its staged state over the applied one. */
export function withStaged<T extends object>(service: T, diff: ScopeDiff[] | undefined, id: string): T {
  const after = diff?.find((d) => d.scope === "service" && d.id === id)?.after;
  return after ? { ...service, ...after } : service;
}

/** An env var change's scope, key and new value, as the server sent them: an update or a delete
 * names its variable's scope and key in `before`. */
export function envChangeOf(c: PendingChange): { scope?: string; scopeId?: string; key?: string; value?: string } {
  const p = c.payload;
  const b = c.before ?? {};
  return {
    scope: str(p["scope"]) ?? str(b["scope"]),
    scopeId: str(p["scope_id"]) ?? str(b["scope_id"]),
    key: str(p["key"]) ?? str(b["key"]),
    value: typeof p["value"] === "string" ? p["value"] : undefined,
  };
}

/** The staged env var changes of one scope (project or group). */
export function stagedEnvOfScope(pending: PendingChange[], scope: "project" | "group", scopeId: string): PendingChange[] {
  return pending.filter((c) => {
    if (!c.kind.startsWith("env_var.")) return false;
    const e = envChangeOf(c);
    return e.scope === scope && e.scopeId === scopeId;
  });
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v ? v : undefined;
}
