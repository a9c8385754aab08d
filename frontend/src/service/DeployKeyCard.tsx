import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "../app";
import type { DeployKey } from "../api/types";
import { deployKeysPage, repoHost } from "../lib/gitRepo";
import { CopyField } from "../ui/CopyField";
import { ConfirmDialog, Spinner, errorText } from "../ui/controls";
import { useToast } from "../ui/toast";

/** The service's SSH deploy key: what a private repository must trust for DeployKit to clone it. */
export function DeployKeyCard({ base, repoUrl, queryKey }: { base: string; repoUrl: string; queryKey: readonly unknown[] }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [confirm, setConfirm] = useState(false);
  const key = useQuery({ queryKey, queryFn: () => api.get<DeployKey>(`${base}/deploy-key`) });
  const rotate = useMutation({
    mutationFn: () => api.post<DeployKey>(`${base}/deploy-key`),
    onSuccess: (k) => {
      qc.setQueryData(queryKey, k);
      toast.success("Deploy key rotated. Replace the key on the repository's host.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const host = repoHost(repoUrl);
  const page = deployKeysPage(host);
  return (
    <section className="card" data-testid="deploy-key-card">
      <div className="row">
        <h2>Deploy key</h2>
        <div className="grow" />
        <button className="btn btn-sm" disabled={rotate.isPending || !key.data} onClick={() => setConfirm(true)} data-testid="deploy-key-rotate">
          Rotate
        </button>
      </div>
      <p className="muted small">
        For a private repository: DeployKit clones over SSH with this key, so the repository URL must be its SSH one (<code>git@host:owner/repo.git</code>)
        {host.web && !host.ssh ? <span data-testid="deploy-key-https-note">; this service clones over HTTPS, which does not use the key</span> : null}.
      </p>
      {key.isPending ? <Spinner /> : null}
      {key.error ? <div className="form-error">{errorText(key.error)}</div> : null}
      {key.data ? (
        <>
          <CopyField label="Public key" value={key.data.public_key} testId="deploy-key-public" multiline />
          <p className="small">
            Fingerprint <code data-testid="deploy-key-fingerprint">{key.data.fingerprint}</code>
          </p>
        </>
      ) : null}
      <details className="small" open={host.provider !== null || undefined}>
        <summary>Add it on GitHub or GitLab</summary>
        <p className="muted">{page ? <a href={page} target="_blank" rel="noreferrer">Open the repository's deploy keys</a> : null}</p>
        <ol className={host.provider === "gitlab" ? "muted" : ""}>
          <li>
            <strong>GitHub:</strong> the repository's <em>Settings → Deploy keys → Add deploy key</em>; any title, paste the public key, leave <em>Allow write access</em> off, <em>Add key</em>.
          </li>
        </ol>
        <ol className={host.provider === "github" ? "muted" : ""}>
          <li>
            <strong>GitLab:</strong> the project's <em>Settings → Repository → Deploy keys → Add new key</em>; any title, paste the public key, leave <em>Grant write permissions</em> off, <em>Add key</em>.
          </li>
        </ol>
        <p className="muted">Rotating makes a new key: the old one stops working for new builds until the new one is added.</p>
      </details>
      {confirm ? (
        <ConfirmDialog
          title="Rotate the deploy key?"
          body={<p>Builds of a private repository fail until the new public key replaces the old one on the repository's host.</p>}
          confirmLabel="Rotate"
          danger
          busy={rotate.isPending}
          onConfirm={() => rotate.mutate(undefined, { onSettled: () => setConfirm(false) })}
          onClose={() => setConfirm(false)}
        />
      ) : null}
    </section>
  );
}
