import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import { ApiError } from "../api/client";
import type { Webhook, WebhookProvider } from "../api/types";
import { repoHost, webhooksPage } from "../lib/gitRepo";
import { CopyField } from "../ui/CopyField";
import { ConfirmDialog, Spinner, errorText } from "../ui/controls";
import { useToast } from "../ui/toast";
import { DeliveriesList } from "./DeliveriesList";
import { PreviewsSection } from "./PreviewsSection";

const PROVIDERS: Record<WebhookProvider, string> = { github: "GitHub", gitlab: "GitLab" };

/** Push to deploy: the service's webhook, how to add it on the provider, and what it received. */
export function WebhookCard({ projectId, serviceId, base, repoUrl, branch }: { projectId: string; serviceId: string; base: string; repoUrl: string; branch: string }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const queryKey = [...keys.service(projectId, serviceId), "webhook"] as const;
  const [confirm, setConfirm] = useState<"delete" | WebhookProvider | null>(null);
  const host = repoHost(repoUrl);
  const hook = useQuery({
    queryKey,
    queryFn: async () => {
      try {
        return await api.get<Webhook>(`${base}/webhook`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return null; // none yet
        throw err;
      }
    },
  });
  const done = (h: Webhook | null, message: string) => {
    qc.setQueryData(queryKey, h);
    void qc.invalidateQueries({ queryKey: [...queryKey, "deliveries"] });
    toast.success(message);
  };
  const create = useMutation({
    mutationFn: (provider: WebhookProvider) => api.post<Webhook>(`${base}/webhook`, { provider }),
    onSuccess: (h) => done(h, `${PROVIDERS[h.provider]} webhook created. Add it on the repository.`),
    onError: (err) => toast.error(errorText(err)),
  });
  const toggle = useMutation({
    mutationFn: (enabled: boolean) => api.patch<Webhook>(`${base}/webhook`, { enabled }),
    onSuccess: (h) => done(h, h.enabled ? "Webhook enabled: pushes deploy." : "Webhook disabled: pushes are recorded, not deployed."),
    onError: (err) => toast.error(errorText(err)),
  });
  const remove = useMutation({
    mutationFn: () => api.del(`${base}/webhook`),
    onSuccess: () => done(null, "Webhook deleted."),
    onError: (err) => toast.error(errorText(err)),
  });
  const h = hook.data;
  const createButtons = (label: (p: string) => string) =>
    (Object.keys(PROVIDERS) as WebhookProvider[]).map((p) => (
      <button
        key={p}
        className={`btn btn-sm ${host.provider === p || (!host.provider && p === "github") ? "btn-primary" : ""}`}
        disabled={create.isPending}
        onClick={() => (h ? setConfirm(p) : create.mutate(p))}
        data-testid={`webhook-create-${p}`}
      >
        {label(PROVIDERS[p])}
      </button>
    ));

  return (
    <section className="card" data-testid="webhook-card" data-enabled={h ? String(h.enabled) : undefined}>
      <div className="row gap">
        <h2>Push to deploy</h2>
        {h ? (
          <span className={`status-pill tone-${h.enabled ? "ok" : "warn"}`} data-testid="webhook-state">
            <span className={`dot tone-${h.enabled ? "ok" : "warn"}`} /> {PROVIDERS[h.provider]} · {h.enabled ? "enabled" : "disabled"}
          </span>
        ) : null}
        <div className="grow" />
        {h ? (
          <>
            <button className="btn btn-sm" disabled={toggle.isPending} onClick={() => toggle.mutate(!h.enabled)} data-testid="webhook-toggle">
              {h.enabled ? "Disable" : "Enable"}
            </button>
            <button className="btn btn-sm btn-danger" disabled={remove.isPending} onClick={() => setConfirm("delete")} data-testid="webhook-delete">
              Delete
            </button>
          </>
        ) : null}
      </div>
      <p className="muted small">
        A push to <code>{branch}</code> deploys the pushed commit. Pushes to other branches are recorded and skipped.
      </p>
      {hook.isPending ? <Spinner /> : null}
      {hook.error ? <div className="form-error">{errorText(hook.error)}</div> : null}
      {h === null ? (
        <div className="row gap" data-testid="webhook-none">
          <span className="small">No webhook yet. Create one for</span>
          {createButtons((p) => p)}
        </div>
      ) : null}
      {h ? (
        <>
          <CopyField label={h.provider === "github" ? "Payload URL" : "URL"} value={h.url} testId="webhook-url" />
          <CopyField label={h.provider === "github" ? "Secret" : "Secret token"} value={h.secret} testId="webhook-secret" secret />
          <SetupSteps provider={h.provider} page={webhooksPage(host, h.provider)} branch={branch} />
          <div className="row gap small">
            <span className="muted">New secret, or the other provider:</span>
            {createButtons((p) => `Recreate for ${p}`)}
          </div>
          <PreviewsSection hook={h} base={base} queryKey={[...queryKey, "previews"]} onHook={done} />
          <DeliveriesList projectId={projectId} serviceId={serviceId} base={base} queryKey={[...queryKey, "deliveries"]} />
        </>
      ) : null}
      {confirm ? (
        <ConfirmDialog
          title={confirm === "delete" ? "Delete the webhook?" : `Recreate the webhook for ${PROVIDERS[confirm]}?`}
          body={
            <p>
              {confirm === "delete"
                ? "Pushes stop deploying, its deliveries are removed and its pull-request previews too. Remove the webhook on the repository's host as well."
                : "The current URL and secret stop working: the repository's host must be given the new ones."}
            </p>
          }
          confirmLabel={confirm === "delete" ? "Delete" : "Recreate"}
          danger
          busy={remove.isPending || create.isPending}
          onConfirm={() => {
            const close = { onSettled: () => setConfirm(null) };
            if (confirm === "delete") remove.mutate(undefined, close);
            else create.mutate(confirm, close);
          }}
          onClose={() => setConfirm(null)}
        />
      ) : null}
    </section>
  );
}

function SetupSteps({ provider, page, branch }: { provider: WebhookProvider; page: string | null; branch: string }) {
  return (
    <details className="small" data-testid="webhook-steps">
      <summary>Add it on {PROVIDERS[provider]}</summary>
      {page ? (
        <p>
          <a href={page} target="_blank" rel="noreferrer">
            Open the repository's webhooks
          </a>
        </p>
      ) : null}
      {provider === "github" ? (
        <ol>
          <li>The repository's <em>Settings → Webhooks → Add webhook</em>.</li>
          <li><em>Payload URL</em>: the URL above. <em>Content type</em>: <code>application/json</code>.</li>
          <li><em>Secret</em>: the secret above.</li>
          <li><em>Which events</em>: <em>Just the push event</em> (with previews: <em>Let me select individual events</em>, <em>Pushes</em> and <em>Pull requests</em>); keep <em>Active</em> ticked; <em>Add webhook</em>.</li>
          <li>GitHub sends a ping: it shows below as a delivery answered “Pong.”</li>
        </ol>
      ) : (
        <ol>
          <li>The project's <em>Settings → Webhooks → Add new webhook</em>.</li>
          <li><em>URL</em>: the URL above. <em>Secret token</em>: the secret above.</li>
          <li><em>Trigger</em>: <em>Push events</em> (optionally only the branch <code>{branch}</code>), and <em>Merge request events</em> for previews.</li>
          <li><em>Add webhook</em>; <em>Test → Push events</em> sends one that shows below.</li>
        </ol>
      )}
      <p className="muted">The URL must be reachable from {PROVIDERS[provider]}: it is built from the address this page was opened at.</p>
    </details>
  );
}
