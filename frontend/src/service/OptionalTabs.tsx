import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "../app";
import type { Domain, DomainList, Service } from "../api/types";
import { Spinner, errorText, fieldError } from "../ui/controls";
import { useToast } from "../ui/toast";
import { serviceUrl, usePublicPorts } from "../lib/serviceUrl";

export function DomainsTab({ projectId, service }: { projectId: string; service: Service }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const ports = usePublicPorts();
  const base = `/projects/${projectId}/services/${service.id}/domains`;
  const key = ["project", projectId, "service", service.id, "domains"];
  const list = useQuery({
    queryKey: key,
    queryFn: async () => (await api.get<DomainList>(base)).data,
  });
  const [host, setHost] = useState("");
  const add = useMutation({
    mutationFn: () => api.post<Domain>(base, { hostname: host.trim() }),
    onSuccess: (d) => {
      setHost("");
      void qc.invalidateQueries({ queryKey: key });
      toast.success(`${d.hostname} added.`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const remove = useMutation({
    mutationFn: (h: string) => api.del(`${base}/${encodeURIComponent(h)}`),
    onSuccess: (_, h) => {
      void qc.invalidateQueries({ queryKey: key });
      toast.success(`${h} removed.`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  return (
    <div data-testid="domains-tab">
      <form
        className="env-inputs"
        onSubmit={(e) => {
          e.preventDefault();
          if (host.trim()) add.mutate();
        }}
      >
        <input placeholder="app.example.com" aria-label="Hostname" value={host} onChange={(e) => setHost(e.target.value)} />
        <button className="btn btn-primary btn-sm" disabled={add.isPending}>
          Add domain
        </button>
      </form>
      {fieldError(add.error, "hostname") ? <div className="field-error">{fieldError(add.error, "hostname")}</div> : null}
      {list.isPending ? <Spinner /> : null}
      <table className="env-table">
        <tbody>
          {(list.data ?? []).map((d) => (
            <tr key={d.hostname}>
              <td>
                <a href={serviceUrl(d.hostname, ports, d.tls_status)} target="_blank" rel="noreferrer" data-testid="domain-link">
                  {d.hostname}
                </a>
                {d.is_generated ? <span className="badge">generated</span> : null}
              </td>
              <td className="small muted">
                DNS {d.dns_ok === null ? "unknown" : d.dns_ok ? "ok" : "not pointing here"} · TLS {d.tls_status ?? "—"}
              </td>
              <td className="env-actions">
                {!d.is_generated ? (
                  <button className="link-btn small danger" onClick={() => remove.mutate(d.hostname)}>
                    Remove
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
