import type { DeploymentStatus, ServiceStatus } from "../api/types";

export const SERVICE_STATUS_LABEL: Record<ServiceStatus, string> = {
  created: "Not deployed",
  deploying: "Deploying",
  draining: "Draining",
  running: "Running",
  degraded: "Degraded",
  failed: "Failed",
  stopped: "Stopped",
};

export function deploymentTone(s: DeploymentStatus): string {
  switch (s) {
    case "healthy":
      return "ok";
    case "failed":
      return "bad";
    case "pending":
    case "building":
    case "starting":
      return "busy";
    default:
      return "idle";
  }
}

export function serviceTone(s: ServiceStatus | undefined): string {
  switch (s) {
    case "running":
      return "ok";
    case "deploying":
    case "draining":
      return "busy";
    case "degraded":
      return "warn";
    case "failed":
      return "bad";
    default:
      return "idle";
  }
}
