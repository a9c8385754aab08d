import type { RestartPolicy } from "../api/types";
import type { ServiceDraft } from "../lib/serviceDraft";
import { Field, SelectField } from "../ui/controls";

export function ServiceFields({
  draft,
  set,
  errors,
  full,
}: {
  draft: ServiceDraft;
  set: (patch: Partial<ServiceDraft>) => void;
  errors: Record<string, string | undefined>;
  full: boolean;
}) {
  const text = (k: keyof ServiceDraft) => ({
    name: k,
    value: draft[k] as string,
    onChange: (e: React.ChangeEvent<HTMLInputElement>) => set({ [k]: e.target.value } as Partial<ServiceDraft>),
    error: errors[k],
    "data-testid": `svc-${k}`,
    autoComplete: "off",
  });
  return (
    <div className="form-grid">
      <div className="span-2">
        <Field label="Name" {...text("name")} placeholder="api" />
      </div>
      <div className="field">
        <span className="label">Source</span>
        <div className="segmented" role="radiogroup" aria-label="Source">
          {(["image", "git"] as const).map((t) => (
            <button
              type="button"
              key={t}
              role="radio"
              aria-checked={draft.sourceType === t}
              className={draft.sourceType === t ? "on" : ""}
              onClick={() => set({ sourceType: t })}
              data-testid={`svc-source-${t}`}
            >
              {t === "image" ? "Docker image" : "Git repository"}
            </button>
          ))}
        </div>
      </div>
      {draft.sourceType === "image" ? (
        <div className="span-2">
          <Field label="Image" {...text("image")} placeholder="nginx:1.27" />
        </div>
      ) : (
        <>
          <div className="span-2">
            <Field label="Repository URL" {...text("repo_url")} placeholder="https://github.com/acme/api.git" />
          </div>
          <Field label="Branch" {...text("branch")} />
          {full ? (
            <>
              <Field label="Dockerfile path" {...text("dockerfile_path")} />
              <Field label="Build context" {...text("context")} />
            </>
          ) : null}
        </>
      )}
      <Field label="Port" {...text("port")} inputMode="numeric" placeholder="8080" hint="The port the container listens on." />
      <div className="span-2">
        <Field label="Command" {...text("command")} placeholder='["sh","-c","…"] or words' hint="Empty runs the image's own command." />
      </div>
      {full ? (
        <>
          <Field label="Replicas" {...text("replicas")} inputMode="numeric" />
          <SelectField
            label="Restart policy"
            name="restart_policy"
            value={draft.restart_policy}
            onChange={(e) => set({ restart_policy: e.target.value as RestartPolicy })}
            data-testid="svc-restart_policy"
          >
            <option value="unless-stopped">unless-stopped</option>
            <option value="always">always</option>
            <option value="on-failure">on-failure</option>
            <option value="no">no</option>
          </SelectField>
          <Field label="CPU limit (cores)" {...text("cpus")} inputMode="decimal" placeholder="no limit" />
          <Field label="Memory limit (MB)" {...text("memory_mb")} inputMode="numeric" placeholder="no limit" />
          <fieldset className="span-2 fieldset">
            <legend>Volumes</legend>
            {draft.volumes.map((v, i) => (
              <div className="row gap" key={i}>
                <input aria-label="Volume name" placeholder="data" value={v.name} onChange={(e) => set({ volumes: draft.volumes.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)) })} />
                <input aria-label="Mount path" placeholder="/var/lib/data" value={v.mount_path} onChange={(e) => set({ volumes: draft.volumes.map((x, j) => (j === i ? { ...x, mount_path: e.target.value } : x)) })} />
                <button type="button" className="btn btn-sm" aria-label="Remove volume" onClick={() => set({ volumes: draft.volumes.filter((_, j) => j !== i) })}>
                  Remove
                </button>
                {errors[`volumes.${i}`] ? <div className="field-error">{errors[`volumes.${i}`]}</div> : null}
              </div>
            ))}
            <button type="button" className="btn btn-sm" onClick={() => set({ volumes: [...draft.volumes, { name: "", mount_path: "" }] })}>
              + Volume
            </button>
          </fieldset>
          <fieldset className="span-2 fieldset">
            <legend>
              <label className="check">
                <input type="checkbox" checked={draft.hcEnabled} onChange={(e) => set({ hcEnabled: e.target.checked })} data-testid="svc-hc-enabled" /> Health check
              </label>
            </legend>
            {draft.hcEnabled ? (
              <div className="form-grid">
                <SelectField label="Type" name="hc_type" value={draft.hcType} onChange={(e) => set({ hcType: e.target.value as "http" | "tcp" })}>
                  <option value="http">HTTP</option>
                  <option value="tcp">TCP connect</option>
                </SelectField>
                {draft.hcType === "http" ? <Field label="Path" {...text("hcPath")} error={errors["path"]} /> : <div />}
                <Field label="Interval (s)" {...text("hcInterval")} error={errors["interval_s"]} />
                <Field label="Timeout (s)" {...text("hcTimeout")} error={errors["timeout_s"]} />
                <Field label="Healthy after" {...text("hcHealthy")} error={errors["healthy_threshold"]} />
                <Field label="Unhealthy after" {...text("hcUnhealthy")} error={errors["unhealthy_threshold"]} />
                <Field
                  label="Start period (s)"
                  {...text("hcStartPeriod")}
                  error={errors["start_period_s"]}
                  hint="Failing checks in this time after a start don't count: give slow-booting apps room."
                />
              </div>
            ) : (
              <p className="muted small">Without a health check a container is ready once it keeps running for a few seconds.</p>
            )}
          </fieldset>
        </>
      ) : null}
    </div>
  );
}
