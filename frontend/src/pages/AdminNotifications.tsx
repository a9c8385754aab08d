import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "../app";
import type { components } from "../api/schema";
import type { ProjectPage } from "../api/types";
import { ConfirmDialog, Field, Modal, SelectField, Spinner, errorText, fieldError, timeAgo } from "../ui/controls";
import { FormModal, ListCard } from "../ui/ListCard";
import { useToast } from "../ui/toast";

type Channel = components["schemas"]["ChannelOut"];
type ChannelKind = Channel["kind"];
type Delivery = components["schemas"]["NotificationDeliveryOut"];
type EventName = NonNullable<components["schemas"]["ChannelCreateIn"]["events"]>[number];

const EVENTS: { name: EventName; label: string }[] = [
  { name: "deployment.failed", label: "Deployment failed" },
  { name: "build.failed", label: "Build failed" },
  { name: "deployment.healthy", label: "Deployment healthy" },
  { name: "service.unhealthy", label: "Service unhealthy" },
  { name: "service.recovered", label: "Service recovered" },
  { name: "service.crash_loop", label: "Crash loop" },
  { name: "system.disk_high", label: "Disk above the alert level" },
  { name: "backup.failed", label: "Backup failed" },
];
const DEFAULT_EVENTS = EVENTS.map((e) => e.name).filter((n) => n !== "deployment.healthy");
const KINDS: Record<ChannelKind, string> = { webhook: "Webhook (signed JSON)", slack: "Slack", discord: "Discord", email: "E-mail (SMTP)" };

type Form = {
  name: string;
  kind: ChannelKind;
  project_id: string;
  events: EventName[];
  url: string;
  secret: string;
  host: string;
  port: string;
  security: string;
  username: string;
  password: string;
  from_address: string;
  to: string;
};

const EMPTY: Form = {
  name: "",
  kind: "webhook",
  project_id: "",
  events: DEFAULT_EVENTS,
  url: "",
  secret: "",
  host: "",
  port: "587",
  security: "starttls",
  username: "",
  password: "",
  from_address: "",
  to: "",
};

function formOf(c: Channel): Form {
  const s = c.settings as Record<string, unknown>;
  const str = (k: string) => (s[k] === undefined || s[k] === null ? "" : String(s[k]));
  return {
    ...EMPTY,
    name: c.name,
    kind: c.kind,
    project_id: c.project_id ?? "",
    events: c.events as EventName[],
    url: str("url"),
    host: str("host"),
    port: str("port") || "587",
    security: str("security") || "starttls",
    username: str("username"),
    from_address: str("from_address"),
    to: Array.isArray(s.to) ? (s.to as string[]).join(", ") : "",
  };
}

/** The channel's settings and secrets as the API takes them; secrets left empty are not sent
 * (on an edit: kept as they are). */
function payload(f: Form): { settings: Record<string, unknown>; secrets: Record<string, string> } {
  const secrets: Record<string, string> = {};
  if (f.kind === "webhook") {
    if (f.secret) secrets.secret = f.secret;
    return { settings: { url: f.url }, secrets };
  }
  if (f.kind === "slack" || f.kind === "discord") {
    if (f.url) secrets.url = f.url;
    return { settings: {}, secrets };
  }
  if (f.password) secrets.password = f.password;
  const settings: Record<string, unknown> = {
    host: f.host,
    port: Number(f.port),
    security: f.security,
    from_address: f.from_address,
    to: f.to
      .split(",")
      .map((a) => a.trim())
      .filter(Boolean),
  };
  settings.username = f.username || null;
  return { settings, secrets };
}

/** The admin page's Notifications tab: channels (global or per project), each with a test send
 * and its latest deliveries. */
export function Notifications() {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const channels = useQuery({
    queryKey: ["notification-channels"],
    queryFn: async () => (await api.get<components["schemas"]["ChannelList"]>("/notification-channels")).data,
  });
  const projects = useQuery({ queryKey: ["projects", "all"], queryFn: async () => (await api.get<ProjectPage>("/projects?limit=100")).data });
  const [editing, setEditing] = useState<Channel | "new" | null>(null);
  const [deleting, setDeleting] = useState<Channel | null>(null);
  const [showing, setShowing] = useState<Channel | null>(null);
  const refresh = () => void qc.invalidateQueries({ queryKey: ["notification-channels"] });
  const test = useMutation({
    mutationFn: (c: Channel) => api.post<Delivery>(`/notification-channels/${c.id}/test`),
    onSuccess: (d) => {
      void qc.invalidateQueries({ queryKey: ["notification-deliveries", d.channel_id] });
      if (d.outcome === "success") toast.success("The test notification was delivered.");
      else toast.error(`The test notification failed: ${d.error ?? "unknown error"}`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const del = useMutation({
    mutationFn: (c: Channel) => api.del(`/notification-channels/${c.id}`),
    onSuccess: () => {
      setDeleting(null);
      refresh();
      toast.success("Channel deleted.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const projectName = (id: string | null) => (id ? projects.data?.find((p) => p.id === id)?.name ?? "a project" : "every project");
  return (
    <ListCard
      title="Notification channels"
      testId="admin-notifications"
      addLabel="Add channel"
      addTestId="channel-new"
      onAdd={() => setEditing("new")}
      intro="Where DeployKit tells you about failed deployments and builds, unhealthy services, crash loops, a full disk and failed backups."
      items={channels.data}
      isPending={channels.isPending}
      emptyText="No channels yet."
      row={(c) => (
        <tr key={c.id} data-testid="channel-row">
          <td>
            <strong>{c.name}</strong> <span className="badge">{c.kind}</span> {c.enabled ? null : <span className="badge">off</span>}
            <div className="muted small">
              {projectName(c.project_id)} · {c.events.length} event(s)
            </div>
          </td>
          <td className="env-actions">
            <button className="link-btn small" onClick={() => test.mutate(c)} disabled={test.isPending} data-testid="channel-test">
              Send test
            </button>
            <button className="link-btn small" onClick={() => setShowing(c)} data-testid="channel-deliveries">
              Deliveries
            </button>
            <button className="link-btn small" onClick={() => setEditing(c)} data-testid="channel-edit">
              Edit
            </button>
            <button className="link-btn small danger" onClick={() => setDeleting(c)}>
              Delete
            </button>
          </td>
        </tr>
      )}
    >
      {editing ? (
        <ChannelForm
          channel={editing === "new" ? null : editing}
          projects={projects.data ?? []}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            refresh();
          }}
        />
      ) : null}
      {showing ? <Deliveries channel={showing} onClose={() => setShowing(null)} /> : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${deleting.name}?`}
          body={<p>It stops receiving notifications; its delivery history goes with it.</p>}
          confirmLabel="Delete channel"
          danger
          busy={del.isPending}
          onConfirm={() => del.mutate(deleting)}
          onClose={() => setDeleting(null)}
        />
      ) : null}
    </ListCard>
  );
}

function ChannelForm({
  channel,
  projects,
  onClose,
  onSaved,
}: {
  channel: Channel | null;
  projects: { id: string; name: string }[];
  onClose: () => void;
  onSaved: () => void;
}) {
  const api = useApi();
  const toast = useToast();
  const [f, setF] = useState<Form>(channel ? formOf(channel) : EMPTY);
  const save = useMutation({
    mutationFn: () => {
      const { settings, secrets } = payload(f);
      if (channel) return api.patch<Channel>(`/notification-channels/${channel.id}`, { name: f.name, events: f.events, settings, secrets });
      return api.post<Channel>("/notification-channels", { name: f.name, kind: f.kind, project_id: f.project_id || null, events: f.events, settings, secrets });
    },
    onSuccess: (c) => {
      toast.success(channel ? `${c.name} saved.` : `${c.name} added.`);
      onSaved();
    },
  });
  const err = (name: string) => fieldError(save.error, `settings.${name}`, `secrets.${name}`, name);
  const set = (k: keyof Form) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const kept = (name: string) => (channel?.secrets_set.includes(name) ? "Stored; leave empty to keep it." : undefined);
  return (
    <FormModal title={channel ? `Edit ${channel.name}` : "Add a notification channel"} onClose={onClose} onSubmit={() => save.mutate()} submitLabel="Save" busy={save.isPending} submitTestId="channel-save">
      {save.error && !fieldError(save.error, "name") ? <div className="form-error">{errorText(save.error)}</div> : null}
      <Field label="Name" name="name" value={f.name} onChange={set("name")} error={fieldError(save.error, "name")} />
      <SelectField label="Kind" name="kind" value={f.kind} onChange={set("kind")} disabled={!!channel}>
        {(Object.keys(KINDS) as ChannelKind[]).map((k) => (
          <option key={k} value={k}>
            {KINDS[k]}
          </option>
        ))}
      </SelectField>
      <SelectField label="Projects" name="project_id" value={f.project_id} onChange={set("project_id")} disabled={!!channel}>
        <option value="">Every project (and the system)</option>
        {projects.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name} only
          </option>
        ))}
      </SelectField>
      {f.kind === "webhook" ? (
        <>
          <Field label="URL" name="url" value={f.url} onChange={set("url")} error={err("url")} placeholder="https://example.com/deploykit-hook" />
          <Field label="Signing secret" name="secret" type="password" autoComplete="off" value={f.secret} onChange={set("secret")} error={err("secret")} hint={kept("secret") ?? "The body's HMAC-SHA256 is sent in X-DeployKit-Signature."} />
        </>
      ) : null}
      {f.kind === "slack" || f.kind === "discord" ? (
        <Field label="Incoming webhook URL" name="url" type="password" autoComplete="off" value={f.url} onChange={set("url")} error={err("url")} hint={kept("url") ?? "It holds a token: stored sealed, never shown again."} />
      ) : null}
      {f.kind === "email" ? (
        <>
          <Field label="SMTP host" name="host" value={f.host} onChange={set("host")} error={err("host")} />
          <Field label="Port" name="port" type="number" value={f.port} onChange={set("port")} error={err("port")} />
          <SelectField label="Security" name="security" value={f.security} onChange={set("security")} error={err("security")}>
            <option value="starttls">STARTTLS</option>
            <option value="tls">TLS</option>
            <option value="none">none</option>
          </SelectField>
          <Field label="Username" name="username" value={f.username} onChange={set("username")} error={err("username")} hint="Empty: no AUTH." />
          <Field label="Password" name="password" type="password" autoComplete="off" value={f.password} onChange={set("password")} error={err("password")} hint={kept("password")} />
          <Field label="From" name="from_address" value={f.from_address} onChange={set("from_address")} error={err("from_address")} />
          <Field label="To (comma-separated)" name="to" value={f.to} onChange={set("to")} error={err("to")} />
        </>
      ) : null}
      <fieldset className="field">
        <legend>Events</legend>
        {EVENTS.map((e) => (
          <label key={e.name} className="row small">
            <input
              type="checkbox"
              name={`event-${e.name}`}
              checked={f.events.includes(e.name)}
              onChange={(ev) => setF({ ...f, events: ev.target.checked ? [...f.events, e.name] : f.events.filter((x) => x !== e.name) })}
            />{" "}
            {e.label}
          </label>
        ))}
      </fieldset>
    </FormModal>
  );
}

const TONE = { pending: "warn", success: "ok", failed: "bad" } as const;

function Deliveries({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const api = useApi();
  const deliveries = useQuery({
    queryKey: ["notification-deliveries", channel.id],
    queryFn: async () => (await api.get<components["schemas"]["NotificationDeliveryList"]>(`/notification-channels/${channel.id}/deliveries?limit=50`)).data,
    refetchInterval: (q) => (q.state.data?.some((d) => d.outcome === "pending") ? 2000 : false),
  });
  return (
    <Modal title={`Deliveries of ${channel.name}`} onClose={onClose} testId="channel-deliveries-dialog">
      {deliveries.isPending ? <Spinner /> : null}
      {deliveries.error ? <div className="form-error">{errorText(deliveries.error)}</div> : null}
      {deliveries.data?.length === 0 ? <p className="muted small">Nothing sent yet.</p> : null}
      <table className="env-table">
        <tbody>
          {(deliveries.data ?? []).map((d) => (
            <tr key={d.id} data-testid="delivery-row" data-outcome={d.outcome}>
              <td>
                <span className={`dot tone-${TONE[d.outcome]}`} /> <strong>{d.event}</strong>{" "}
                <span className="muted small">
                  {d.outcome}, {d.attempts} attempt(s), {timeAgo(d.created_at)}
                </span>
                <div className="small">{d.message}</div>
                {d.error ? <div className="small danger">{d.error}</div> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Modal>
  );
}
