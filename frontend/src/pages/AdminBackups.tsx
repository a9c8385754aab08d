import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "../app";
import type { components } from "../api/schema";
import { Field, Spinner, errorText, fieldError, timeAgo } from "../ui/controls";
import { useToast } from "../ui/toast";

type Backup = components["schemas"]["BackupOut"];
type Schedule = components["schemas"]["BackupScheduleOut"];

function size(bytes: number | null): string {
  if (bytes === null) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let x = bytes;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(i ? 1 : 0)} ${units[i]}`;
}

const TONE = { running: "warn", succeeded: "ok", failed: "bad" } as const;

/** The admin page's Backups tab: the runs with their outcome (a failed one says why), a button
 * to back up now, and the schedule with its retention. */
export function Backups() {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const backups = useQuery({
    queryKey: ["backups"],
    queryFn: () => api.get<components["schemas"]["BackupPage"]>("/system/backups?limit=20"),
    refetchInterval: (q) => (q.state.data?.data.some((b) => b.status === "running") ? 1000 : 10000),
  });
  const run = useMutation({
    mutationFn: () => api.post<Backup>("/system/backups", {}),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["backups"] });
      toast.success("Backup started.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const items = backups.data?.data ?? [];
  const lastFailed = items[0]?.status === "failed" ? items[0] : null;
  return (
    <div data-testid="admin-backups">
      <section className="card">
        <div className="row">
          <h2>Backups</h2>
          <div className="grow" />
          <button className="btn btn-primary btn-sm" onClick={() => run.mutate()} disabled={run.isPending} data-testid="backup-now">
            Back up now
          </button>
        </div>
        {lastFailed ? (
          <div className="form-error" role="alert" data-testid="backup-failed">
            The last backup failed {timeAgo(lastFailed.started_at)}: {lastFailed.error}
          </div>
        ) : null}
        {backups.isPending ? <Spinner /> : null}
        {backups.error ? <div className="form-error">{errorText(backups.error)}</div> : null}
        {backups.data && items.length === 0 ? <p className="muted small">No backups yet.</p> : null}
        <table className="env-table">
          <tbody>
            {items.map((b) => (
              <tr key={b.id} data-testid="backup-row" data-status={b.status}>
                <td>
                  <span className={`dot tone-${TONE[b.status]}`} /> <strong>{b.status}</strong>{" "}
                  <span className="muted small">
                    {b.trigger}, {timeAgo(b.started_at)}
                  </span>
                  {b.error ? <div className="small danger">{b.error}</div> : null}
                  {b.location ? <div className="muted small mono">{b.location}</div> : null}
                </td>
                <td className="small">{size(b.size_bytes)}</td>
                <td className="small muted">{b.duration_s !== null ? `${b.duration_s.toFixed(1)} s` : "—"}</td>
                <td className="small muted">{b.volumes} volume(s)</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <ScheduleCard />
    </div>
  );
}

function ScheduleCard() {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const stored = useQuery({ queryKey: ["backup-schedule"], queryFn: () => api.get<Schedule>("/system/backups/schedule") });
  const [form, setForm] = useState<Schedule | null>(null);
  useEffect(() => {
    if (stored.data && form === null) setForm(stored.data);
  }, [stored.data, form]);
  const save = useMutation({
    mutationFn: (s: Schedule) => api.request<Schedule>("PUT", "/system/backups/schedule", { body: s }),
    onSuccess: (s) => {
      setForm(s);
      void qc.invalidateQueries({ queryKey: ["backup-schedule"] });
      toast.success(s.enabled ? `Backups every ${s.interval_hours} h, keeping ${s.keep}.` : "Scheduled backups are off.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  if (!form) return <section className="card">{stored.error ? <div className="form-error">{errorText(stored.error)}</div> : <Spinner />}</section>;
  return (
    <section className="card narrow" data-testid="backup-schedule">
      <h2>Schedule and retention</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate(form);
        }}
      >
        <label className="row small">
          <input type="checkbox" name="enabled" checked={form.enabled} onChange={(e) => setForm({ ...form, enabled: e.target.checked })} /> Back up on a schedule
        </label>
        <Field
          label="Every (hours)"
          name="interval_hours"
          type="number"
          value={form.interval_hours}
          onChange={(e) => setForm({ ...form, interval_hours: Number(e.target.value) })}
          error={fieldError(save.error, "interval_hours")}
        />
        <Field
          label="Archives kept"
          name="keep"
          type="number"
          value={form.keep}
          onChange={(e) => setForm({ ...form, keep: Number(e.target.value) })}
          error={fieldError(save.error, "keep")}
        />
        <Field
          label="Destination"
          name="destination"
          placeholder="the data directory's backups folder"
          hint="Empty, or s3://bucket/prefix (credentials from the daemon's AWS_* environment)."
          value={form.destination}
          onChange={(e) => setForm({ ...form, destination: e.target.value })}
          error={fieldError(save.error, "destination")}
        />
        <Field
          label="S3 endpoint"
          name="s3_endpoint"
          placeholder="https://s3.example.com (empty: AWS)"
          value={form.s3_endpoint}
          onChange={(e) => setForm({ ...form, s3_endpoint: e.target.value })}
          error={fieldError(save.error, "s3_endpoint")}
        />
        <button className="btn btn-primary btn-sm" type="submit" disabled={save.isPending} data-testid="backup-schedule-save">
          Save
        </button>
      </form>
    </section>
  );
}
