import type { HealthCheck, RestartPolicy, Service, ServiceCreate, Volume } from "../api/types";
import { formatCommand, parseCommand } from "./command";

/** The service form's state: strings as typed, converted to a ServiceCreate on submit. */
export interface ServiceDraft {
  name: string;
  sourceType: "image" | "git";
  image: string;
  repo_url: string;
  branch: string;
  dockerfile_path: string;
  context: string;
  port: string;
  command: string;
  replicas: string;
  cpus: string;
  memory_mb: string;
  volumes: Volume[];
  hcEnabled: boolean;
  hcType: "http" | "tcp";
  hcPath: string;
  hcInterval: string;
  hcTimeout: string;
  hcHealthy: string;
  hcUnhealthy: string;
  hcStartPeriod: string;
  restart_policy: RestartPolicy;
}

export function draftFromService(s?: Partial<Service> | null): ServiceDraft {
  const src = s?.source;
  const hc = s?.health_check;
  return {
    name: s?.name ?? "",
    sourceType: src?.type ?? "image",
    image: src?.type === "image" ? src.image : "",
    repo_url: src?.type === "git" ? src.repo_url : "",
    branch: src?.type === "git" ? src.branch : "main",
    dockerfile_path: src?.type === "git" ? src.dockerfile_path : "Dockerfile",
    context: src?.type === "git" ? src.context : ".",
    port: s?.port != null ? String(s.port) : "",
    command: formatCommand(s?.command),
    replicas: String(s?.replicas ?? 1),
    cpus: s?.resources?.cpus != null ? String(s.resources.cpus) : "",
    memory_mb: s?.resources?.memory_mb != null ? String(s.resources.memory_mb) : "",
    volumes: s?.volumes ? s.volumes.map((v) => ({ ...v })) : [],
    hcEnabled: !!hc,
    hcType: hc?.type ?? "http",
    hcPath: hc?.path ?? "/",
    hcInterval: String(hc?.interval_s ?? 5),
    hcTimeout: String(hc?.timeout_s ?? 2),
    hcHealthy: String(hc?.healthy_threshold ?? 1),
    hcUnhealthy: String(hc?.unhealthy_threshold ?? 3),
    hcStartPeriod: String(hc?.start_period_s ?? 0),
    restart_policy: s?.restart_policy ?? "unless-stopped",
  };
}

function int(text: string, field: string, errors: Record<string, string>, min: number, max: number): number | null {
  if (!text.trim()) return null;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    errors[field] = `Enter a whole number from ${min} to ${max}.`;
    return null;
  }
  return n;
}

/** Seconds, fractions allowed (the API takes them: an interval of 0.5 s must survive an edit). */
function seconds(text: string, field: string, errors: Record<string, string>, min: number, max: number): number | null {
  if (!text.trim()) return null;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) {
    errors[field] = `Enter seconds from ${min} to ${max}.`;
    return null;
  }
  return n;
}

/** Validate and convert; `errors` uses the API's field names so server and client messages share a slot. */
export function draftToService(d: ServiceDraft): { value: ServiceCreate | null; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  if (!d.name.trim()) errors["name"] = "Enter a name.";
  else if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(d.name.trim())) errors["name"] = "Use letters, digits and dashes.";
  if (d.sourceType === "image" && !d.image.trim()) errors["image"] = "Enter an image, e.g. nginx:1.27.";
  // What the API takes: https://, ssh://, git@host:path, file:// or an absolute path on the server.
  if (d.sourceType === "git" && !/^(https?:\/\/|git@|ssh:\/\/|file:\/\/|\/)/.test(d.repo_url.trim())) errors["repo_url"] = "Enter a git URL or an absolute path.";
  if (d.sourceType === "git" && !d.branch.trim()) errors["branch"] = "Enter a branch.";
  const port = int(d.port, "port", errors, 1, 65535);
  const replicas = int(d.replicas || "1", "replicas", errors, 1, 100) ?? 1;
  let command: string[] | null = null;
  try {
    command = parseCommand(d.command);
  } catch (e) {
    errors["command"] = (e as Error).message;
  }
  let cpus: number | null = null;
  if (d.cpus.trim()) {
    cpus = Number(d.cpus);
    if (!(cpus > 0)) errors["cpus"] = "Enter a positive number.";
  }
  const memory = int(d.memory_mb, "memory_mb", errors, 4, 1_048_576);
  const volumes = d.volumes.filter((v) => v.name.trim() || v.mount_path.trim());
  volumes.forEach((v, i) => {
    if (!v.name.trim() || !v.mount_path.startsWith("/")) errors[`volumes.${i}`] = "Name and an absolute mount path.";
  });
  let health_check: HealthCheck | null = null;
  if (d.hcEnabled) {
    health_check = {
      type: d.hcType,
      // Sent for TCP checks too: the server stores a null path as the text "None".
      path: d.hcPath || "/",
      interval_s: seconds(d.hcInterval, "interval_s", errors, 0.1, 3600) ?? 5,
      timeout_s: seconds(d.hcTimeout, "timeout_s", errors, 0.1, 600) ?? 2,
      healthy_threshold: int(d.hcHealthy, "healthy_threshold", errors, 1, 100) ?? 1,
      unhealthy_threshold: int(d.hcUnhealthy, "unhealthy_threshold", errors, 1, 100) ?? 3,
      // Always sent: the API replaces the whole check, and a start period set before must not be lost.
      start_period_s: seconds(d.hcStartPeriod, "start_period_s", errors, 0, 3600) ?? 0,
    };
    // Only when no port was given: a port out of range keeps its own message.
    if (d.hcType === "http" && !d.port.trim()) errors["port"] = "An HTTP health check needs a port.";
  }
  if (Object.keys(errors).length) return { value: null, errors };
  return {
    value: {
      name: d.name.trim(),
      source:
        d.sourceType === "image"
          ? { type: "image", image: d.image.trim() }
          : {
              type: "git",
              repo_url: d.repo_url.trim(),
              branch: d.branch.trim(),
              dockerfile_path: d.dockerfile_path.trim() || "Dockerfile",
              context: d.context.trim() || ".",
            },
      port,
      command,
      replicas,
      resources: cpus === null && memory === null ? null : { cpus, memory_mb: memory },
      volumes: volumes.map((v) => ({ name: v.name.trim(), mount_path: v.mount_path.trim() })),
      health_check,
      restart_policy: d.restart_policy,
    },
    errors,
  };
}

/** Only the fields that differ from the service, for a PATCH. */
export function serviceDelta(before: Service, after: ServiceCreate): Partial<ServiceCreate> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) {
    if (JSON.stringify(comparable(k, v)) !== JSON.stringify(comparable(k, (before as unknown as Record<string, unknown>)[k]))) out[k] = v;
  }
  return out as Partial<ServiceCreate>;
}

/** One spelling per meaning: the API renders "no limits" as `{cpus: null, memory_mb: null}`, the form as `null`. */
function comparable(key: string, v: unknown): unknown {
  if (key === "resources") {
    const r = (v ?? {}) as { cpus?: number | null; memory_mb?: number | null };
    return { cpus: r.cpus ?? null, memory_mb: r.memory_mb ?? null };
  }
  return v ?? null;
}
