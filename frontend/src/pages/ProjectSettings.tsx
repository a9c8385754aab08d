import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { PendingChange, PendingChangeList, Project } from "../api/types";
import { ConfirmDialog, Field, Spinner, errorText, fieldError } from "../ui/controls";
import { useToast } from "../ui/toast";
import { stagedEnvOfScope } from "../lib/stagedDiff";
import { ScopedVariables, useScopeVars } from "../service/ScopedVariables";

export function ProjectSettingsPage() {
  const { projectId = "" } = useParams();
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const navigate = useNavigate();
  const project = useQuery({ queryKey: keys.project(projectId), queryFn: () => api.get<Project>(`/projects/${projectId}`) });
  const pending = useQuery({
    queryKey: keys.pending(projectId),
    queryFn: async () => (await api.get<PendingChangeList>(`/projects/${projectId}/pending-changes?limit=100`)).data,
  });
  // Started here so the variables load alongside the project rather than after it.
  useScopeVars(`/projects/${projectId}`, keys.envVars(projectId, "project", projectId));
  const [name, setName] = useState<string | null>(null);
  const [confirm, setConfirm] = useState(false);
  const addPending = (c: PendingChange) => qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => (prev && c?.id ? [...prev.filter((x) => x.id !== c.id), c] : prev));

  const rename = useMutation({
    mutationFn: () => api.patch<PendingChange>(`/projects/${projectId}`, { name: (name ?? "").trim() }),
    onSuccess: (c) => {
      addPending(c);
      setName(null);
      toast.success("Rename staged. Deploy to apply.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const del = useMutation({
    mutationFn: () => api.del(`/projects/${projectId}`),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: keys.projects });
      toast.success(`Project “${project.data?.name}” deleted.`);
      navigate("/");
    },
    onError: (err) => toast.error(errorText(err)),
  });

  if (project.isPending) return <Spinner />;
  if (project.error) return <div className="page form-error">{errorText(project.error)}</div>;
  const p = project.data;
  const stagedRename = (pending.data ?? []).filter((c) => c.kind === "project.update").map((c) => c.payload["name"]).filter(Boolean).pop() as string | undefined;
  const stagedVars = stagedEnvOfScope(pending.data ?? [], "project", projectId);

  return (
    <div className="page narrow-page" data-testid="project-settings">
      <div className="page-head">
        <div>
          <Link to={`/projects/${projectId}`} className="crumb">
            ← {p.name}
          </Link>
          <h1>Project settings</h1>
        </div>
      </div>
      <section className="card">
        <h2>Name</h2>
        <form
          className="row gap align-end"
          onSubmit={(e) => {
            e.preventDefault();
            if ((name ?? "").trim()) rename.mutate();
          }}
        >
          <Field label="Project name" name="name" value={name ?? stagedRename ?? p.name} onChange={(e) => setName(e.target.value)} error={fieldError(rename.error, "name")} data-testid="project-rename" />
          <button className="btn btn-primary" disabled={rename.isPending || name === null} data-testid="project-rename-save">
            Stage rename
          </button>
        </form>
        {stagedRename ? <p className="small"><span className="badge badge-staged">staged</span> renames to “{stagedRename}” on the next deploy.</p> : null}
      </section>
      <section className="card">
        <h2>Project variables</h2>
        <p className="muted small">Every service in the project inherits these; group and service variables override them.</p>
        <ScopedVariables
          projectId={projectId}
          scope="project"
          scopeId={projectId}
          base={`/projects/${projectId}`}
          queryKey={keys.envVars(projectId, "project", projectId)}
          staged={stagedVars}
          addedToast={(key) => `${key} staged for every service in the project.`}
          testIdPrefix="project-env"
          emptyText="No project variables yet."
        />
      </section>
      <section className="card danger-card">
        <h2>Delete project</h2>
        <p className="muted small">Immediately removes every container, the network and the volumes of this project. This cannot be undone.</p>
        <button className="btn btn-danger" onClick={() => setConfirm(true)} data-testid="project-delete">
          Delete project
        </button>
      </section>
      {confirm ? (
        <ConfirmDialog
          title={`Delete ${p.name}?`}
          body={<p>This deletes all services, containers, volumes and history of the project now.</p>}
          confirmLabel="Delete project"
          danger
          busy={del.isPending}
          requireText={p.name}
          onConfirm={() => del.mutate()}
          onClose={() => setConfirm(false)}
        />
      ) : null}
    </div>
  );
}
