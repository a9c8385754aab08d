import { useQuery } from "@tanstack/react-query";
import { useApi } from "../app";
import type { Health } from "../api/types";

export interface PublicPorts {
  http: number | null;
  https: number | null;
}

/** The ingress's ports as the daemon reports them (`--http-port`/`--https-port`). */
export function usePublicPorts(): PublicPorts | undefined {
  const api = useApi();
  const q = useQuery({
    queryKey: ["health", "public-ports"],
    queryFn: async () => (await api.request<Health>("GET", "/health", { auth: false })).public_ports,
    staleTime: Infinity,
  });
  return q.data;
}

/**
 * The address a service's domain answers at: HTTPS (on the HTTPS port) once its certificate is
 * publicly trusted, else plain HTTP on the HTTP port (which Caddy redirects when it serves HTTPS).
 * A non-default port is written out. Undefined until the ports are known: a link to the default
 * port would lead elsewhere when the daemon runs with `--http-port`, so none is offered meanwhile.
 */
export function serviceUrl(hostname: string, ports: PublicPorts | undefined, tlsStatus?: string | null): string | undefined {
  if (ports === undefined) return undefined;
  const https = tlsStatus === "active" && ports.https !== null;
  const port = https ? (ports.https ?? 443) : (ports.http ?? 80);
  const fallback = https ? 443 : 80;
  return `${https ? "https" : "http"}://${hostname}${port === fallback ? "" : `:${port}`}/`;
}
