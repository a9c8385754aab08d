import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useApi } from "../app";
import { ApiError } from "../api/client";
import type { ComposeImport, ComposeService } from "../api/types";
import { Field, Modal, errorText } from "../ui/controls";
import { useToast } from "../ui/toast";

function sourceText(s: ComposeService): string {
  return s.source.type === "image" ? s.source.image : `${s.source.repo_url} (${s.source.dockerfile_path})`;
}

function Preview({ result }: { result: ComposeImport }) {
  return (
    <div data-testid="compose-preview">
      <h3>{result.services.length} service{result.services.length === 1 ? "" : "s"} to stage</h3>
      <dl className="kv">
        {result.services.map((s) => (
          <div className="kv-row" key={s.name} data-testid={`compose-service-${s.name}`}>
            <dt>{s.name}</dt>
            <dd>
              {sourceText(s)}
              {s.port != null ? ` · port ${s.port}` : ""}
              {s.replicas > 1 ? ` · ${s.replicas} replicas` : ""}
              {Object.keys(s.env_vars).length ? ` · ${Object.keys(s.env_vars).length} variables` : ""}
              {s.volumes.length ? ` · volumes ${s.volumes.map((v) => `${v.name}:${v.mount_path}`).join(", ")}` : ""}
              {s.health_check ? ` · ${s.health_check.type.toUpperCase()} check${s.health_check.type === "http" ? ` ${s.health_check.path}` : ""}` : ""}
              {s.depends_on.length ? ` · depends on ${s.depends_on.join(", ")}` : ""}
            </dd>
          </div>
        ))}
      </dl>
      {result.skipped.length ? (
        <>
          <h3>Not imported</h3>
          <ul className="compose-skipped" data-testid="compose-skipped">
            {result.skipped.map((s) => (
              <li key={s.key}>
                <code>{s.key}</code>: {s.reason}
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </div>
  );
}

/** Stages the services of a docker-compose.yml, after a preview (the server's dry run) of what
 * will be staged and what is left out. Nothing runs until Deploy. */
export function ImportComposeDialog({ projectId, onClose }: { projectId: string; onClose: () => void }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [compose, setCompose] = useState("");
  const [repoUrl, setRepoUrl] = useState("");
  const [branch, setBranch] = useState("main");
  const [preview, setPreview] = useState<ComposeImport | null>(null);
  const body = (dryRun: boolean) => ({ compose, repo_url: repoUrl.trim() || null, branch: branch.trim() || "main", dry_run: dryRun });
  const previewing = useMutation({
    mutationFn: () => api.post<ComposeImport>(`/projects/${projectId}/compose`, body(true)),
    onSuccess: setPreview,
  });
  const staging = useMutation({
    mutationFn: () => api.post<ComposeImport>(`/projects/${projectId}/compose`, body(false)),
    onSuccess: (result) => {
      void qc.invalidateQueries({ queryKey: ["project", projectId] });
      toast.success(`Staged ${result.services.length} services; deploy to run them.`);
      onClose();
    },
  });
  const error = staging.error ?? previewing.error;
  const fields = error instanceof ApiError ? Object.entries(error.fields) : [];
  const edit = (f: () => void) => {
    f();
    setPreview(null);
  };

  return (
    <Modal title="Import a Docker Compose file" onClose={onClose} testId="import-compose-dialog" wide>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (preview) staging.mutate();
          else previewing.mutate();
        }}
        noValidate
      >
        <div className="field">
          <label htmlFor="compose-yaml">docker-compose.yml</label>
          <textarea
            id="compose-yaml"
            rows={14}
            spellCheck={false}
            value={compose}
            onChange={(e) => edit(() => setCompose(e.target.value))}
            placeholder={"services:\n  web:\n    image: nginx:1.27\n    ports: ['80:80']"}
            data-testid="compose-yaml"
          />
        </div>
        <div className="form-grid">
          <Field
            label="Repository (for build sections)"
            name="repo_url"
            value={repoUrl}
            onChange={(e) => edit(() => setRepoUrl(e.target.value))}
            placeholder="https://github.com/acme/app.git"
          />
          <Field label="Branch" name="branch" value={branch} onChange={(e) => edit(() => setBranch(e.target.value))} />
        </div>
        {error ? (
          <div className="form-error" data-testid="compose-error">
            {errorText(error)}
            {fields.length ? (
              <ul>
                {fields.map(([k, v]) => (
                  <li key={k}>
                    <code>{k}</code> {v.join("; ")}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
        {preview ? <Preview result={preview} /> : null}
        <div className="modal-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          {preview ? (
            <button type="submit" className="btn btn-primary" disabled={staging.isPending} data-testid="compose-stage">
              Stage {preview.services.length} services
            </button>
          ) : (
            <button type="submit" className="btn btn-primary" disabled={!compose.trim() || previewing.isPending} data-testid="compose-preview-button">
              Preview
            </button>
          )}
        </div>
      </form>
    </Modal>
  );
}
