import { useMemo, useState } from "react";
import { Link, useNavigate } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { Project, ProjectPage, ServicePage, ServiceStatus } from "../api/types";
import { SERVICE_STATUS_LABEL, serviceTone } from "../canvas/status";
import { Field, Modal, Spinner, errorText, fieldError, timeAgo } from "../ui/controls";
import { useToast } from "../ui/toast";

export function ProjectsPage() {
  const api = useApi();
  const [q, setQ] = useState("");
  const [creating, setCreating] = useState(false);
  const projects = useQuery({
    queryKey: keys.projects,
    queryFn: () => api.get<ProjectPage>("/projects?limit=100"),
  });
  const shown = useMemo(() => {
    const needle = q.trim().toLowerCase();
    const all = projects.data?.data ?? [];
    return needle ? all.filter((p) => p.name.toLowerCase().includes(needle) || p.slug.includes(needle)) : all;
  }, [projects.data, q]);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Projects</h1>
        <div className="row gap">
          <input
            className="search"
            type="search"
            placeholder="Search projects"
            aria-label="Search projects"
            value={q}
            onChange={(e) => setQ(e.target.value)}
            data-testid="project-search"
          />
          <button className="btn btn-primary" onClick={() => setCreating(true)} data-testid="new-project">
            + New project
          </button>
        </div>
      </div>
      {projects.isPending ? (
        <Spinner />
      ) : projects.error ? (
        <div className="form-error">{errorText(projects.error)}</div>
      ) : shown.length === 0 ? (
        <div className="empty" data-testid="projects-empty">
          {q ? (
            <p>No project matches “{q}”.</p>
          ) : (
            <>
              <h2>No projects yet</h2>
              <p className="muted">A project groups services that deploy together and share a private network.</p>
              <button className="btn btn-primary" onClick={() => setCreating(true)}>
                Create your first project
              </button>
            </>
          )}
        </div>
      ) : (
        <div className="grid" data-testid="project-list">
          {shown.map((p) => (
            <Link key={p.id} to={`/projects/${p.id}`} className="card project-card" data-testid="project-card">
              <div className="project-name">{p.name}</div>
              <div className="muted small">{p.slug}</div>
              <ServicesSummary projectId={p.id} />
              <div className="muted small">Updated {timeAgo(p.updated_at)}</div>
            </Link>
          ))}
        </div>
      )}
      {creating ? <CreateProjectDialog onClose={() => setCreating(false)} /> : null}
    </div>
  );
}

function CreateProjectDialog({ onClose }: { onClose: () => void }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [local, setLocal] = useState<string>();
  const m = useMutation({
    mutationFn: () => api.post<Project>("/projects", { name: name.trim() }),
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: keys.projects });
      toast.success(`Project “${p.name}” created.`);
      onClose();
      navigate(`/projects/${p.id}`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  return (
    <Modal title="New project" onClose={onClose} testId="create-project-dialog">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!name.trim()) return setLocal("Enter a name.");
          setLocal(undefined);
          m.mutate();
        }}
        noValidate
      >
        <Field label="Name" name="name" value={name} onChange={(e) => setName(e.target.value)} placeholder="my-shop" data-testid="project-name" error={local ?? fieldError(m.error, "name")} autoComplete="off" />
        <div className="modal-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button className="btn btn-primary" disabled={m.isPending} data-testid="create-project-submit">
            {m.isPending ? "Creating…" : "Create project"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** How many services a project has and how they are doing: "3 services · 2 running · 1 failed". */
function ServicesSummary({ projectId }: { projectId: string }) {
  const api = useApi();
  const services = useQuery({
    queryKey: keys.services(projectId),
    queryFn: async () => (await api.get<ServicePage>(`/projects/${projectId}/services?limit=100`)).data,
    staleTime: 10_000,
  });
  if (!services.data) return <div className="muted small project-services">&nbsp;</div>;
  const byStatus = new Map<ServiceStatus, number>();
  for (const s of services.data) byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + 1);
  const n = services.data.length;
  return (
    <div className="small project-services" data-testid="project-services" data-count={n}>
      <span>
        {n === 0 ? "No services" : `${n} service${n === 1 ? "" : "s"}`}
      </span>
      {[...byStatus.entries()].map(([status, count]) => (
        <span key={status} className={`project-state tone-${serviceTone(status)}`} data-testid="project-state" data-status={status}>
          <span className={`dot tone-${serviceTone(status)}`} /> {count} {SERVICE_STATUS_LABEL[status].toLowerCase()}
        </span>
      ))}
    </div>
  );
}
