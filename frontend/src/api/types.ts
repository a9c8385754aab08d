import type { components } from "./schema";
// Shapes from /work/shared/API.md. Fields the contract leaves open are optional and read defensively.

export type Role = "admin" | "member";

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  created_at?: string;
}

export interface AuthTokens {
  access_token: string;
  refresh_token: string;
  expires_at: string;
}

export interface Page<T> {
  data: T[];
  total_count: number;
  offset: number;
  limit: number;
}

export interface Project {
  id: string;
  name: string;
  slug: string;
  created_at: string;
  updated_at: string;
}

export type ImageSource = { type: "image"; image: string };
export type GitSource = {
  type: "git";
  repo_url: string;
  branch: string;
  dockerfile_path: string;
  context: string;
};
export type Source = ImageSource | GitSource;

export interface HealthCheck {
  type: "http" | "tcp";
  path?: string | null;
  interval_s: number;
  timeout_s: number;
  healthy_threshold: number;
  unhealthy_threshold: number;
  /** Seconds after a (re)start in which failing checks don't count. */
  start_period_s?: number;
}

export interface Volume {
  name: string;
  mount_path: string;
}

export interface Resources {
  cpus: number | null;
  memory_mb: number | null;
}

export type RestartPolicy = "no" | "always" | "on-failure" | "unless-stopped";

export interface ServiceCreate {
  name: string;
  source: Source;
  port: number | null;
  command: string[] | null;
  replicas: number;
  resources: Resources | null;
  volumes: Volume[];
  health_check: HealthCheck | null;
  restart_policy: RestartPolicy;
}

export type ServiceStatus = "created" | "deploying" | "running" | "degraded" | "failed" | "stopped";

export interface Service extends ServiceCreate {
  id: string;
  project_id: string;
  slug: string;
  status: ServiceStatus;
  active_deployment_id: string | null;
  group_id?: string | null;
  domains: (string | { hostname: string })[];
  /** stop-first for services with volumes (or no port): old replicas stop before new ones start. */
  rollout?: "start-first" | "stop-first";
  /** Seconds old replicas keep serving in-flight requests after traffic switches away. */
  drain_s?: number;
  created_at: string;
  updated_at: string;
}

export type DeploymentStatus =
  | "pending"
  | "building"
  | "starting"
  | "healthy"
  | "superseded"
  | "failed"
  | "cancelled";

export interface Deployment {
  id: string;
  service_id: string;
  status: DeploymentStatus;
  image: string | null;
  source: Source;
  commit_sha: string | null;
  commit_message: string | null;
  env_vars: Record<string, string>;
  port: number | null;
  command: string[] | null;
  replicas: number;
  failure_reason: string | null;
  exit_code: number | null;
  log_tail: string | string[] | null;
  attempt_count: number;
  created_by: string | null;
  created_at: string;
  started_at: string | null;
  healthy_at: string | null;
  finished_at: string | null;
}

export type EnvScope = "project" | "group" | "service";

export interface EnvVar {
  id: string;
  scope: EnvScope;
  scope_id: string;
  key: string;
  value: string;
  created_at: string;
  updated_at: string;
}

/** A staged edit, as the server sends it (`kind` like `service.delete`). */
export type PendingChange = components["schemas"]["PendingChangeOut"];
export type ChangeKind = components["schemas"]["ChangeKind"];
/** What the staged changes do to one project, service or group: computed by the server's Plan. */
export type ScopeDiff = components["schemas"]["ScopeDiffOut"];

export interface ApplyResult {
  applied_count: number;
  temp_id_to_service_id: Record<string, string>;
  created_deployments: (string | { id: string; service_id?: string })[];
}

export interface CanvasNode {
  id: string;
  project_id?: string;
  type?: string;
  node_type?: string;
  service_id?: string | null;
  group_id?: string | null;
  parent_id?: string | null;
  position_x: number;
  position_y: number;
  width?: number | null;
  height?: number | null;
  data?: Record<string, unknown> | null;
  label?: string | null;
  text?: string | null;
}

export interface CanvasEdge {
  id: string;
  source: string;
  target: string;
  managed?: boolean;
  type?: string;
  data?: Record<string, unknown> | null;
}

export interface Presence {
  user_id: string;
  user_name: string;
  id?: string;
  name?: string;
  email?: string;
}

export interface Draft {
  draft_id: string;
  user_id?: string;
  user_name?: string;
  name?: string;
  x?: number;
  y?: number;
}

export interface ApiKey {
  id: string;
  description: string;
  prefix?: string;
  expires_at: string | null;
  last_used_at?: string | null;
  created_at: string;
  token?: string;
}

export interface Health {
  status: string;
  version: string;
  services: { database: boolean; docker: boolean; ingress: boolean };
}

export interface Domain {
  hostname: string;
  is_generated: boolean;
  dns_ok: boolean | null;
  tls_status: string | null;
  created_at: string;
}
