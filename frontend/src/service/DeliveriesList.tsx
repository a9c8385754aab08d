import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { WebhookDelivery, WebhookDeliveryList } from "../api/types";
import { Spinner, errorText, timeAgo } from "../ui/controls";
import { useToast } from "../ui/toast";

const TONE: Record<WebhookDelivery["status"], string> = { success: "ok", skipped: "warn", failed: "bad" };

/** What the webhook received, newest first, each with what it did and why. */
export function DeliveriesList({ projectId, serviceId, base, queryKey }: { projectId: string; serviceId: string; base: string; queryKey: readonly unknown[] }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const list = useQuery({
    queryKey,
    queryFn: async () => (await api.get<WebhookDeliveryList>(`${base}/webhook/deliveries?limit=50`)).data,
    refetchInterval: 3000,
  });
  const redeliver = useMutation({
    mutationFn: (d: WebhookDelivery) => api.post<WebhookDelivery>(`${base}/webhook/deliveries/${d.id}/redeliver`),
    onSuccess: (d) => {
      (d.status === "success" ? toast.success : toast.info)(d.reason ?? "Redelivered.");
      void qc.invalidateQueries({ queryKey });
      void qc.invalidateQueries({ queryKey: keys.deployments(projectId, serviceId) });
      void qc.invalidateQueries({ queryKey: keys.services(projectId) });
    },
    onError: (err) => toast.error(`Redeliver failed: ${errorText(err)}`),
  });
  return (
    <>
      <h3 className="section-title">Deliveries</h3>
      {list.isPending ? <Spinner /> : null}
      {list.error ? <div className="form-error">{errorText(list.error)}</div> : null}
      {list.data?.length === 0 ? <p className="muted small">Nothing received yet.</p> : null}
      <table className="env-table deliveries" data-testid="deliveries">
        <tbody>
          {(list.data ?? []).map((d) => (
            <tr key={d.id} data-testid="delivery" data-status={d.status} data-id={d.id}>
              <td className="small muted" title={d.delivered_at ?? undefined}>
                {timeAgo(d.delivered_at)}
              </td>
              <td className="small" data-testid="delivery-event">
                {d.event}
                {d.branch ? (
                  <>
                    {" "}
                    · <code data-testid="delivery-branch">{d.branch}</code>
                  </>
                ) : null}
              </td>
              <td className="small">
                {d.commit_sha ? <code data-testid="delivery-commit">{d.commit_sha.slice(0, 7)}</code> : null} {d.message?.split("\n")[0]}
                {d.author ? <span className="muted"> · {d.author}</span> : null}
              </td>
              <td className="small">
                <span className={`status-pill tone-${TONE[d.status]}`}>
                  <span className={`dot tone-${TONE[d.status]}`} /> {d.status}
                </span>{" "}
                {d.preview_number != null ? (
                  <span className="muted" data-testid="delivery-preview">
                    #{d.preview_number} preview {d.preview_action}:{" "}
                  </span>
                ) : null}
                <span data-testid="delivery-reason">{d.reason}</span>
                {d.deployment_id ? (
                  <span className="muted">
                    {" "}
                    · deployment <code data-testid="delivery-deployment">{d.deployment_id.slice(0, 8)}</code>
                  </span>
                ) : null}
              </td>
              <td>
                {d.branch && d.commit_sha && d.preview_number == null ? (
                  <button className="btn btn-sm" disabled={redeliver.isPending} onClick={() => redeliver.mutate(d)} data-testid="delivery-redeliver">
                    Redeliver
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
