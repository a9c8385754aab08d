import type { EnvScope, EnvVar } from "../api/types";

export interface StagedEnv {
  changeId: string;
  scope: EnvScope;
  key: string;
  /** null when the staged change deletes the var. */
  value: string | null;
  op: "added" | "changed" | "removed";
}

export interface EnvRowView {
  key: string;
  /** The value the service will see once deployed (staged edits included). */
  value: string | null;
  /** Where that value comes from. */
  from: EnvScope | null;
  /** The var itself when it is defined on this service (editable here). */
  own: EnvVar | null;
  /** Lower scopes whose value is shadowed by `from`. */
  overrides: { scope: EnvScope; value: string }[];
  staged: StagedEnv[];
}

const ORDER: EnvScope[] = ["project", "group", "service"];

/**
 * The effective variables of a service: service overrides group overrides project. Staged edits
 * apply on top so the panel shows what the next deploy will resolve, each one marked and cancellable.
 */
export function resolveEnv(
  layers: Partial<Record<EnvScope, EnvVar[]>>,
  staged: StagedEnv[] = [],
): EnvRowView[] {
  const values = new Map<string, Map<EnvScope, string>>();
  const own = new Map<string, EnvVar>();
  for (const scope of ORDER) {
    for (const v of layers[scope] ?? []) {
      const m = values.get(v.key) ?? new Map<EnvScope, string>();
      m.set(scope, v.value);
      values.set(v.key, m);
      if (scope === "service") own.set(v.key, v);
    }
  }
  const stagedByKey = new Map<string, StagedEnv[]>();
  for (const s of staged) {
    const m = values.get(s.key) ?? new Map<EnvScope, string>();
    if (s.value === null) m.delete(s.scope);
    else m.set(s.scope, s.value);
    values.set(s.key, m);
    stagedByKey.set(s.key, [...(stagedByKey.get(s.key) ?? []), s]);
  }
  const rows: EnvRowView[] = [];
  for (const [key, m] of values) {
    const present = ORDER.filter((s) => m.has(s));
    const from = present[present.length - 1] ?? null;
    rows.push({
      key,
      value: from ? (m.get(from) ?? null) : null,
      from,
      own: own.get(key) ?? null,
      overrides: present.slice(0, -1).map((scope) => ({ scope, value: m.get(scope)! })),
      staged: stagedByKey.get(key) ?? [],
    });
  }
  return rows.sort((a, b) => a.key.localeCompare(b.key));
}
