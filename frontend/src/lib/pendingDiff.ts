import type { EnvVar, PendingChange, Service } from "../api/types";

/** What a staged change does, parsed from its kind (`service.update`, `env_var.create`, ...). */
export interface ChangeKind {
  entity: "project" | "service" | "group" | "env_var" | "other";
  action: "create" | "update" | "delete" | "other";
}

const ENTITY_ALIASES: Record<string, ChangeKind["entity"]> = {
  project: "project",
  service: "service",
  group: "group",
  env: "env_var",
  env_var: "env_var",
  envvar: "env_var",
  "env-var": "env_var",
  variable: "env_var",
};

const ACTION_ALIASES: Record<string, ChangeKind["action"]> = {
  create: "create",
  add: "create",
  update: "update",
  rename: "update",
  patch: "update",
  move: "update",
  delete: "delete",
  remove: "delete",
};

export function kindOf(change: PendingChange): ChangeKind {
  const raw = change.change_type ?? change.type ?? change.kind ?? "";
  let [entityRaw, actionRaw] = raw.includes(".") ? raw.split(".", 2) : [raw, ""];
  if (!actionRaw && change.action) actionRaw = change.action;
  if (!entityRaw) entityRaw = change.entity_type ?? change.target_type ?? "";
  const entity = ENTITY_ALIASES[(entityRaw ?? "").toLowerCase()] ?? "other";
  const action = ACTION_ALIASES[(actionRaw ?? "").toLowerCase()] ?? "other";
  return { entity, action };
}

/** An env var change's scope, key and new value: from its payload, or, for an update or a delete
 * (whose payload names neither scope nor key), from what the variable was before. */
export function envChangeOf(c: PendingChange): { scope?: string; scopeId?: string; key?: string; value?: string } {
  const p = c.payload ?? {};
  const b = beforeOf(c) ?? {};
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
    if (kindOf(c).entity !== "env_var") return false;
    const e = envChangeOf(c);
    return e.scope === scope && e.scopeId === scopeId;
  });
}

export interface FieldRow {
  field: string;
  before: string | null;
  after: string | null;
}

export interface EnvRow {
  key: string;
  op: "added" | "changed" | "removed";
  before: string | null;
  after: string | null;
  changeIds: string[];
}

export interface DiffGroup {
  key: string;
  scope: "project" | "service" | "group";
  id: string;
  title: string;
  badge: "creating" | "deleting" | null;
  fields: FieldRow[];
  env: EnvRow[];
  changeIds: string[];
}

export interface DiffContext {
  projectId: string;
  projectName: string;
  services: Service[];
  /** Group canvas node id -> label. */
  groups?: Record<string, string>;
  /** Applied env vars by id, to describe updates and deletes of existing vars. */
  envVars?: EnvVar[];
}

const HIDDEN_FIELDS = new Set([
  "id", "project_id", "slug", "status", "created_at", "updated_at", "x", "y", "position_x", "position_y", "draft_id", "env_vars",
]);

/** One display string per value; objects are flattened by the caller, arrays shown as JSON. */
export function formatValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** Flatten `{source: {type, image}}` into `source.type`, `source.image`; arrays stay whole. */
export function flatten(obj: Record<string, unknown>, prefix = ""): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) Object.assign(out, flatten(v as Record<string, unknown>, key));
    else out[key] = v;
  }
  return out;
}

function payloadOf(c: PendingChange): Record<string, unknown> {
  const p = c.payload ?? {};
  // Some shapes nest the edit under `changes` or `update`.
  const nested = (p["changes"] ?? p["update"] ?? p["fields"]) as Record<string, unknown> | undefined;
  return nested && typeof nested === "object" && !Array.isArray(nested) ? nested : p;
}

function beforeOf(c: PendingChange): Record<string, unknown> | null {
  return c.before ?? c.previous ?? ((c.payload?.["before"] as Record<string, unknown> | undefined) ?? null);
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v ? v : undefined;
}

/**
 * Fold a project's pending changes into one group per project, service and group, in the order they
 * were first touched. Successive edits of one field show the first "before" and the last "after";
 * env vars fold into added/changed/removed; a service created and deleted before deploy drops out.
 */
export function foldPendingChanges(changes: PendingChange[], ctx: DiffContext): DiffGroup[] {
  const services = new Map(ctx.services.map((s) => [s.id, s]));
  const envById = new Map((ctx.envVars ?? []).map((v) => [v.id, v]));
  const groups = new Map<string, DiffGroup & { created: boolean; deleted: boolean; after: Record<string, unknown>; before: Record<string, unknown> }>();
  const envState = new Map<string, Map<string, { before: string | null; after: string | null; existed: boolean; ids: string[] }>>();

  const groupFor = (scope: DiffGroup["scope"], id: string, title: string) => {
    const key = `${scope}:${id}`;
    let g = groups.get(key);
    if (!g) {
      g = { key, scope, id, title, badge: null, fields: [], env: [], changeIds: [], created: false, deleted: false, after: {}, before: {} };
      groups.set(key, g);
    }
    return g;
  };

  for (const c of changes) {
    const kind = kindOf(c);
    const p = payloadOf(c);
    if (kind.entity === "env_var") {
      const existing = (str(p["id"]) && envById.get(p["id"] as string)) || (c.target_id ? envById.get(c.target_id) : undefined);
      const scope = (str(p["scope"]) ?? existing?.scope ?? "project") as DiffGroup["scope"];
      const scopeId = str(p["scope_id"]) ?? existing?.scope_id ?? (scope === "project" ? ctx.projectId : (c.target_id ?? ""));
      const key = str(p["key"]) ?? existing?.key ?? "?";
      const g = groupFor(scope, scopeId, titleFor(scope, scopeId, ctx, services));
      g.changeIds.push(c.id);
      const gEnv = envState.get(g.key) ?? new Map();
      envState.set(g.key, gEnv);
      const prior = gEnv.get(key) ?? { before: existing?.value ?? null, after: existing?.value ?? null, existed: !!existing, ids: [] };
      prior.ids.push(c.id);
      if (kind.action === "delete") prior.after = null;
      else prior.after = formatValue(p["value"]) ?? "";
      gEnv.set(key, prior);
      continue;
    }
    if (kind.entity === "project") {
      const g = groupFor("project", ctx.projectId, ctx.projectName);
      g.changeIds.push(c.id);
      const b = beforeOf(c);
      for (const [f, v] of Object.entries(flatten(p))) {
        if (!(f in g.before)) g.before[f] = b ? flatten(b)[f] : f === "name" ? ctx.projectName : undefined;
        g.after[f] = v;
      }
      continue;
    }
    if (kind.entity === "service" || kind.entity === "group") {
      const id = c.target_id ?? c.target_temp_id ?? str(p["id"]) ?? c.id;
      const svc = services.get(id);
      const name = str(p["name"]) ?? svc?.name ?? ctx.groups?.[id] ?? (kind.entity === "group" ? "group" : "service");
      const g = groupFor(kind.entity, id, name);
      g.changeIds.push(c.id);
      if (kind.action === "create") g.created = true;
      if (kind.action === "delete") g.deleted = true;
      if (kind.action === "create" || kind.action === "update") {
        const b = beforeOf(c);
        const current = svc ? flatten(svc as unknown as Record<string, unknown>) : {};
        const prev = b ? flatten(b) : current;
        for (const [f, v] of Object.entries(flatten(p))) {
          if (HIDDEN_FIELDS.has(f.split(".")[0] ?? f)) continue;
          if (!(f in g.before)) g.before[f] = g.created ? undefined : prev[f];
          g.after[f] = v;
        }
        if (kind.action === "update" && str(p["name"])) g.title = str(p["name"])!;
        // A service created with variables (presets, the canvas socket) carries them in its payload.
        const env = p["env_vars"];
        if (kind.action === "create" && env && typeof env === "object" && !Array.isArray(env)) {
          const gEnv = envState.get(g.key) ?? new Map();
          envState.set(g.key, gEnv);
          for (const [key, value] of Object.entries(env as Record<string, unknown>)) {
            gEnv.set(key, { before: null, after: formatValue(value) ?? "", existed: false, ids: [c.id] });
          }
        }
      }
    }
  }

  const out: DiffGroup[] = [];
  for (const g of groups.values()) {
    if (g.created && g.deleted) continue;
    g.badge = g.deleted ? "deleting" : g.created ? "creating" : null;
    if (!g.deleted) {
      for (const [f, after] of Object.entries(g.after)) {
        const before = formatValue(g.before[f]);
        const a = formatValue(after);
        // A created entity lists only what was set, not every empty default.
        if (g.created && (a === null || a === "[]" || a === "{}")) continue;
        if (before !== a) g.fields.push({ field: f, before, after: a });
      }
    }
    for (const [key, e] of envState.get(g.key) ?? []) {
      if (!e.existed && e.after === null) continue;
      const op: EnvRow["op"] = !e.existed ? "added" : e.after === null ? "removed" : "changed";
      if (op === "changed" && e.before === e.after) continue;
      g.env.push({ key, op, before: e.existed ? e.before : null, after: e.after, changeIds: e.ids });
    }
    const { created: _c, deleted: _d, after: _a, before: _b, ...group } = g;
    out.push(group);
  }
  return out;
}

function titleFor(scope: DiffGroup["scope"], id: string, ctx: DiffContext, services: Map<string, Service>): string {
  if (scope === "project") return ctx.projectName;
  if (scope === "service") return services.get(id)?.name ?? "service";
  return ctx.groups?.[id] ?? "group";
}

/** Staged state per service, for showing edits on canvas nodes before deploy. */
export interface StagedNodeState {
  name?: string;
  deleting: boolean;
  creating: boolean;
  /** The staged service's config (create payload with later updates), for nodes not yet deployed. */
  config?: Record<string, unknown>;
}

export function stagedByService(changes: PendingChange[]): Map<string, StagedNodeState> {
  const out = new Map<string, StagedNodeState>();
  for (const c of changes) {
    const kind = kindOf(c);
    if (kind.entity !== "service") continue;
    const id = c.target_id ?? c.target_temp_id;
    if (!id) continue;
    const s = out.get(id) ?? { deleting: false, creating: false };
    const name = str(payloadOf(c)["name"]);
    if (kind.action === "create") {
      s.creating = true;
      s.config = { ...payloadOf(c) };
    } else if (kind.action === "update" && s.config) {
      s.config = { ...s.config, ...payloadOf(c) };
    }
    if (kind.action === "delete") s.deleting = true;
    if (name) s.name = name;
    out.set(id, s);
  }
  return out;
}
