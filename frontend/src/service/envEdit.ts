import { useMutation, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { EnvDiffEntry, EnvEditResult, PendingChange, ScopeDiff } from "../api/types";

export interface EnvEditBody {
  values?: Record<string, string>;
  unset?: string[];
  dotenv?: string;
  replace?: boolean;
  dry_run?: boolean;
}

/**
 * Set and unset variables of one scope (`base`: the scope's API path) through the server's edit
 * route: each key ends with at most one staged change, so the pending cache drops the changes the
 * edit replaced and takes the ones it staged.
 */
export function useEnvEdit(projectId: string, base: string) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: EnvEditBody) => api.post<EnvEditResult>(`${base}/env-vars/edit`, body),
    onSuccess: (r) => cacheEnvEdit(qc, projectId, r),
  });
}

/** The pending cache after an edit: without the changes it replaced, with the ones it staged. */
export function cacheEnvEdit(qc: QueryClient, projectId: string, r: EnvEditResult | undefined) {
  if (!r || r.dry_run) return;
  const gone = new Set(r.discarded);
  qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) =>
    prev ? [...prev.filter((c) => !gone.has(c.id)), ...r.staged.filter((c) => !prev.some((x) => x.id === c.id))] : prev,
  );
}

/** The variable a service gets when it is connected to `target` on the canvas: `API_URL` for "api". */
export function referenceVar(target: string, port: number | null | undefined): { key: string; value: string } {
  const base = target.toUpperCase().replace(/[^A-Z0-9]+/g, "_").replace(/^_+|_+$/g, "") || "SERVICE";
  const key = `${/^[0-9]/.test(base) ? "_" : ""}${base}_URL`;
  const host = "${{" + target + ".HOST}}";
  return { key, value: port ? `http://${host}:\${{${target}.PORT}}` : `http://${host}` };
}

/** The env entries of one scope in the staged diff, by key. */
export function envEntries(diff: ScopeDiff[] | undefined, scope: string, id: string): Map<string, EnvDiffEntry> {
  const entry = diff?.find((d) => d.scope === scope && d.id === id);
  return new Map((entry?.env ?? []).map((e) => [e.key, e]));
}

/** `.env` text of `values`: plain when safe, else double-quoted with python-dotenv's escapes. */
export function toDotenv(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${/^[A-Za-z0-9_./:@%+,-]*$/.test(v) ? v : `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`}`)
    .join("\n");
}

/** A value as dots unless revealed. */
export function masked(value: string, reveal: boolean): string {
  return reveal ? value : "•".repeat(Math.min(12, Math.max(6, value.length)));
}
