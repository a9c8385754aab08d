// The API's shapes, named for the UI. Every one comes from schema.d.ts, which `make api-types`
// generates from the server's /api/openapi.json: nothing here is written by hand.
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Role = Schemas["Role"];
export type User = Schemas["UserOut"];
export type AuthTokens = Schemas["TokensOut"];
export type ApiKey = Schemas["APIKeyOut"];
export type ApiKeyList = Schemas["APIKeyList"];
export type UserPage = Schemas["UserPage"];
export type Health = Schemas["HealthOut"];
export type PresetList = Schemas["PresetList"];

export type Project = Schemas["ProjectOut"];
export type ProjectPage = Schemas["ProjectPage"];

export type ImageSource = Schemas["ImageSourceOut"];
export type GitSource = Schemas["GitSourceOut"];
export type Source = ImageSource | GitSource;
export type HealthCheck = Schemas["HealthCheckOut"];
export type Volume = Schemas["VolumeOut"];
export type Resources = Schemas["ResourcesOut"];
export type RestartPolicy = Schemas["RestartPolicy"];
export type ServiceStatus = Schemas["ServiceStatus"];
export type Service = Schemas["ServiceOut"];
export type ServicePage = Schemas["ServicePage"];
/** The deploy configuration of a new service (the create body without its canvas placement). */
export type ServiceCreate = Pick<
  Schemas["ServiceCreateIn"],
  "name" | "source" | "port" | "command" | "replicas" | "resources" | "volumes" | "health_check" | "restart_policy"
>;

export type DeploymentStatus = Schemas["DeploymentStatus"];
export type Deployment = Schemas["DeploymentOut"];
export type DeploymentPage = Schemas["DeploymentPage"];
export type DeploymentLog = Schemas["DeploymentLogOut"];
export type Domain = Schemas["DomainOut"];
export type DomainList = Schemas["DomainList"];
export type ServiceMetrics = Schemas["ServiceMetricsOut"];
export type MetricsPoint = Schemas["ContainerPointOut"];
export type HostMetrics = Schemas["HostMetricsOut"];
export type HostPoint = Schemas["HostPointOut"];
export type HealthHistory = Schemas["HealthHistoryOut"];

export type EnvScope = Schemas["Scope"];
export type EnvVar = Schemas["EnvVarOut"];
export type EnvVarList = Schemas["EnvVarList"];
export type ChangeKind = Schemas["ChangeKind"];
export type PendingChange = Schemas["PendingChangeOut"];
export type PendingChangeList = Schemas["PendingChangeList"];
/** The server's diff of one scope's staged changes (GET .../pending-changes/diff). */
export type ScopeDiff = Schemas["ScopeDiffOut"];
export type ApplyResult = Schemas["ApplyResultOut"];
/** What a compose file stages (or would, on a dry run) and the keys it left out (POST .../compose). */
export type ComposeImport = Schemas["ComposeImportOut"];
export type ComposeService = Schemas["ComposeServiceOut"];

export type CanvasNode = Schemas["CanvasNodeOut"];
export type CanvasEdge = Schemas["CanvasEdgeOut"];
export type Presence = Schemas["Presence"];
export type Draft = Schemas["Draft"];

/** What the server sends on the canvas socket, discriminated by `type`. */
export type ServerMessage = Schemas["CanvasServerMessage"];
/** What the client sends on the canvas socket, discriminated by `type`. */
export type ClientMessage = Schemas["CanvasClientMessage"];
/** The payload of the client message of type `T`. */
export type ClientPayload<T extends ClientMessage["type"]> = Extract<ClientMessage, { type: T }>["payload"];

export type Webhook = Schemas["WebhookOut"];
export type WebhookProvider = Webhook["provider"];
export type WebhookDelivery = Schemas["DeliveryOut"];
export type WebhookDeliveryList = Schemas["DeliveryList"];
export type DeployKey = Schemas["DeployKeyOut"];
export type Preview = Schemas["PreviewOut"];
export type PreviewList = Schemas["PreviewList"];
export type PreviewVars = Schemas["PreviewVarsOut"];
/** What an edit of a scope's variables staged (or would, on a dry run) (POST .../env-vars/edit). */
export type EnvEditResult = Schemas["EnvEditOut"];
export type EnvDiffEntry = Schemas["EnvDiffOut"];
