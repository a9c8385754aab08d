import { createContext, useContext } from "react";
import { useQuery } from "@tanstack/react-query";
import type { ApiClient } from "./api/client";
import type { User } from "./api/types";

export const ApiContext = createContext<ApiClient | null>(null);

export function useApi(): ApiClient {
  const api = useContext(ApiContext);
  if (!api) throw new Error("useApi outside ApiContext");
  return api;
}

export function useMe() {
  const api = useApi();
  return useQuery({
    queryKey: ["me"],
    queryFn: () => api.get<User>("/auth/me"),
    enabled: api.isSignedIn(),
    staleTime: 60_000,
  });
}

export const keys = {
  projects: ["projects"] as const,
  project: (p: string) => ["project", p] as const,
  services: (p: string) => ["project", p, "services"] as const,
  service: (p: string, s: string) => ["project", p, "service", s] as const,
  deployments: (p: string, s: string) => ["project", p, "service", s, "deployments"] as const,
  envVars: (p: string, scope: string, id: string) => ["project", p, "env", scope, id] as const,
  pending: (p: string) => ["project", p, "pending"] as const,
};

export function initials(name: string | undefined | null): string {
  const parts = (name ?? "?").trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts[1]?.[0] ?? "")).toUpperCase();
}

/** A stable colour per user id, for avatars and cursors. */
export function userColour(id: string): string {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) % 360;
  return `hsl(${h} 70% 60%)`;
}
