import { useEffect, useRef, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import { ApiError } from "../api/client";
import type { PendingChange, PresetList } from "../api/types";
import { draftFromService, draftToService, type ServiceDraft } from "../lib/serviceDraft";
import { Modal } from "../ui/controls";
import { useFormErrors } from "../lib/formErrors";
import { useToast } from "../ui/toast";
import { ServiceFields } from "../service/ServiceFields";
import type { Send } from "./socket";

/** Stages a new service. While the dialog is open the others see it as a draft ghost. */
export function AddServiceDialog({
  projectId,
  at,
  send,
  onClose,
  onCreated,
}: {
  projectId: string;
  at: { x: number; y: number };
  send: Send;
  onClose: () => void;
  onCreated: (ids: string[]) => void;
}) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [draft, setDraft] = useState<ServiceDraft>(() => draftFromService());
  const [advanced, setAdvanced] = useState(false);
  const [preset, setPreset] = useState<{ env: Record<string, string>; name: string } | null>(null);
  // A preset's connection string refers to the service by name: follow the name the user types.
  const presetEnv = preset ? renameReferences(preset.env, preset.name, draft.name || preset.name) : null;
  const draftId = useRef(crypto.randomUUID());
  const presets = useQuery({
    queryKey: ["presets"],
    queryFn: async () => (await api.get<PresetList>("/presets/databases")).data,
    retry: false,
    staleTime: 300_000,
  });

  useEffect(() => {
    const id = draftId.current;
    send("service:draft-start", { draft_id: id, name: "", x: Math.round(at.x), y: Math.round(at.y) });
    return () => {
      send("service:draft-cancel", { draft_id: id });
    };
  }, [send, at.x, at.y]);

  const m = useMutation({
    mutationFn: async () => {
      const { value, errors } = draftToService(draft);
      form.setLocal(errors);
      if (!value) throw new ApiError(422, "invalid", "Check the highlighted fields.", {});
      if (presetEnv && Object.keys(presetEnv).length) {
        // Only the canvas socket's service:create stages env vars together with the new service.
        const sent = send("service:create", {
          ...value,
          draft_id: draftId.current,
          env_vars: presetEnv,
          public: false, // a database is reached by name on the project network, never from outside
          x: Math.round(at.x),
          y: Math.round(at.y),
        });
        if (!sent) throw new ApiError(0, "unavailable", "The canvas is offline; try again once it reconnects.");
        return { id: "", kind: "service.create", target_temp_id: null } as PendingChange;
      }
      return api.post<PendingChange>(`/projects/${projectId}/services`, {
        ...value,
        position_x: Math.round(at.x),
        position_y: Math.round(at.y),
      });
    },
    onSuccess: (change) => {
      if (change.id) {
        qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) =>
          prev && !prev.some((c) => c.id === change.id) ? [...prev, change] : prev,
        );
      }
      const ids = [change.target_temp_id].filter((x): x is string => !!x);
      onCreated(ids);
      toast.success(`Service “${draft.name}” staged. Deploy to create it.`);
      onClose();
    },
    // Shown in the dialog, beside the field or under the form (never as a toast as well).
  });
  const form = useFormErrors(m.error);
  const local = form.local;

  const set = (patch: Partial<ServiceDraft>) => {
    form.edited(Object.keys(patch));
    setDraft((d) => ({ ...d, ...patch }));
  };
  const errs: Record<string, string | undefined> = {
    name: form.get("name"),
    image: form.get("image", "source"),
    repo_url: form.get("repo_url"),
    branch: form.get("branch"),
    port: form.get("port"),
    command: form.get("command"),
    replicas: form.get("replicas"),
    cpus: form.get("cpus"),
    memory_mb: form.get("memory_mb"),
    ...Object.fromEntries(Object.entries(local).filter(([k]) => k.startsWith("volumes.") || k.endsWith("_s") || k.endsWith("threshold"))),
  };

  // Tell the others what is being drafted once a name is typed.
  const lastName = useRef("");
  useEffect(() => {
    if (draft.name === lastName.current) return;
    lastName.current = draft.name;
    const t = window.setTimeout(() => send("service:draft-start", { draft_id: draftId.current, name: draft.name, x: Math.round(at.x), y: Math.round(at.y) }), 300);
    return () => clearTimeout(t);
  }, [draft.name, send, at.x, at.y]);

  return (
    <Modal title="Add a service" onClose={onClose} testId="add-service-dialog" wide={advanced}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          m.mutate();
        }}
        noValidate
      >
        {presets.data && presets.data.length > 0 ? (
          <div className="preset-row">
            <span className="muted small">Database templates:</span>
            {presets.data.map((p) => (
              <button
                type="button"
                key={p.id}
                className="chip"
                title={p.description}
                onClick={() => {
                  setDraft({ ...draftFromService({ ...p.service, name: draft.name || p.id }) });
                  setPreset({ env: p.env_vars, name: p.service_name });
                  setAdvanced(true);
                }}
              >
                {p.name}
              </button>
            ))}
          </div>
        ) : null}
        <ServiceFields draft={draft} set={set} errors={errs} full={advanced} />
        {presetEnv && Object.keys(presetEnv).length ? (
          <p className="muted small">
            Also stages {Object.keys(presetEnv).length} variables: {Object.keys(presetEnv).join(", ")} (secrets generated by the server).
          </p>
        ) : null}
        <button type="button" className="link-btn" onClick={() => setAdvanced((a) => !a)} data-testid="svc-advanced">
          {advanced ? "Fewer options" : "More options (replicas, limits, volumes, health check)"}
        </button>
        {form.general(Object.keys(errs)) ? (
          <div className="form-error" data-testid="add-service-error">
            {form.general(Object.keys(errs))}
          </div>
        ) : null}
        <div className="modal-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button className="btn btn-primary" disabled={m.isPending} data-testid="add-service-submit">
            {m.isPending ? "Staging…" : "Add service"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** `${{old.X}}` as `${{new.X}}` in every value (the server does the same on a rename). */
function renameReferences(env: Record<string, string>, from: string, to: string): Record<string, string> {
  const re = /\$\{\{\s*([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replace(re, (m, name: string, attr: string) => (name === from ? `\${{${to}.${attr}}}` : m))]));
}
