import { useState } from "react";
import { Navigate } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi, useMe } from "../app";
import type { Health, Role, User, UserPage } from "../api/types";
import { ConfirmDialog, Field, SelectField, Spinner, errorText, fieldError, timeAgo } from "../ui/controls";
import { FormModal, ListCard } from "../ui/ListCard";
import { useToast } from "../ui/toast";
import { Backups } from "./AdminBackups";
import { Engine } from "./AdminEngine";
import { Nodes } from "./AdminNodes";
import { Notifications } from "./AdminNotifications";
import { AuditLog } from "./AdminAudit";
import { HostMetrics } from "./AdminMetrics";

type Tab = "users" | "status" | "engine" | "nodes" | "backups" | "notifications" | "audit" | "about";

export function AdminPage() {
  const me = useMe();
  const [tab, setTab] = useState<Tab>("users");
  if (me.isPending) return <Spinner />;
  if (me.data?.role !== "admin") return <Navigate to="/" replace />;
  return (
    <div className="page" data-testid="admin-page">
      <h1>Admin settings</h1>
      <div className="tabs page-tabs" role="tablist">
        {(["users", "status", "engine", "nodes", "backups", "notifications", "audit", "about"] as const).map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "on" : ""} onClick={() => setTab(t)} data-testid={`admin-tab-${t}`}>
            {{ users: "Users", status: "System status", engine: "Engine", nodes: "Nodes", backups: "Backups", notifications: "Notifications", audit: "Audit log", about: "About" }[t]}
          </button>
        ))}
      </div>
      {tab === "users" ? <Users me={me.data} /> : null}
      {tab === "status" ? <Status /> : null}
      {tab === "engine" ? <Engine /> : null}
      {tab === "nodes" ? <Nodes /> : null}
      {tab === "backups" ? <Backups /> : null}
      {tab === "notifications" ? <Notifications /> : null}
      {tab === "audit" ? <AuditLog /> : null}
      {tab === "about" ? <About /> : null}
    </div>
  );
}

function Users({ me }: { me: User }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const users = useQuery({
    queryKey: ["users"],
    queryFn: async () => (await api.get<UserPage>("/users?limit=100")).data,
  });
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<User | null>(null);
  const [form, setForm] = useState({ name: "", email: "", password: "", role: "member" as Role });
  const create = useMutation({
    mutationFn: () => api.post<User>("/users", form),
    onSuccess: (u) => {
      setCreating(false);
      setForm({ name: "", email: "", password: "", role: "member" });
      void qc.invalidateQueries({ queryKey: ["users"] });
      toast.success(`${u.name} can now sign in.`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const setRole = useMutation({
    mutationFn: ({ u, role }: { u: User; role: Role }) => api.patch<User>(`/users/${u.id}`, { role }),
    onSuccess: (u) => {
      void qc.invalidateQueries({ queryKey: ["users"] });
      toast.success(`${u.name} is now ${u.role}.`);
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const del = useMutation({
    mutationFn: (u: User) => api.del(`/users/${u.id}`),
    onSuccess: () => {
      setDeleting(null);
      void qc.invalidateQueries({ queryKey: ["users"] });
      toast.success("User deleted.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  return (
    <ListCard
      title="Users"
      testId="admin-users"
      addLabel="Add user"
      addTestId="user-new"
      onAdd={() => setCreating(true)}
      items={users.data}
      isPending={users.isPending}
      row={(u) => (
        <tr key={u.id} data-testid="user-row">
          <td>
            <strong>{u.name}</strong> {u.id === me.id ? <span className="badge">you</span> : null}
            <div className="muted small">{u.email}</div>
          </td>
          <td className="small muted">{u.created_at ? `joined ${timeAgo(u.created_at)}` : ""}</td>
          <td>
            <select aria-label={`Role of ${u.name}`} value={u.role} onChange={(e) => setRole.mutate({ u, role: e.target.value as Role })} disabled={setRole.isPending}>
              <option value="admin">admin</option>
              <option value="member">member</option>
            </select>
          </td>
          <td className="env-actions">
            <button className="link-btn small danger" disabled={u.id === me.id} onClick={() => setDeleting(u)}>
              Delete
            </button>
          </td>
        </tr>
      )}
    >
      {creating ? (
        <FormModal title="Add a user" onClose={() => setCreating(false)} onSubmit={() => create.mutate()} submitLabel="Add user" busy={create.isPending}>
          <Field label="Name" name="name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} error={fieldError(create.error, "name")} />
          <Field label="Email" name="email" type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} error={fieldError(create.error, "email")} />
          <Field label="Initial password" name="password" type="password" autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} error={fieldError(create.error, "password")} />
          <SelectField label="Role" name="role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
            <option value="member">member</option>
            <option value="admin">admin</option>
          </SelectField>
        </FormModal>
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${deleting.name}?`}
          body={<p>Their sessions and API keys stop working at once.</p>}
          confirmLabel="Delete user"
          danger
          busy={del.isPending}
          onConfirm={() => del.mutate(deleting)}
          onClose={() => setDeleting(null)}
        />
      ) : null}
    </ListCard>
  );
}

/** Words people read for the API's keys: units go from the label to the value ("uptime_s" is
 * "Uptime" with "38 min"), and known abbreviations are spelt as such. */
const WORDS: Record<string, string> = { os: "OS", cpus: "CPUs", cpu: "CPU", api: "API", wal: "WAL", id: "ID", tls: "TLS", http: "HTTP", https: "HTTPS", acme: "ACME" };
const UNIT_SUFFIX = /_(s|bytes|pct|percent)$/;

export function humanLabel(key: string): string {
  const words = key.replace(UNIT_SUFFIX, "").split("_").filter(Boolean);
  if (key === "bytes") return "Size";
  if (key === "percent" || key === "pct") return "In use";
  if (words.length === 0) return key;
  const text = words.map((w) => WORDS[w] ?? w).join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function humanBytes(v: number): string {
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let x = v;
  while (x >= 1024 && i < u.length - 1) {
    x /= 1024;
    i++;
  }
  return i === 0 ? `${x} B` : `${x.toFixed(1)} ${u[i]}`;
}

export function humanDuration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  return `${m} min ${s % 60} s`;
}

function fmt(key: string, v: unknown): string {
  if (typeof v === "number") {
    if (/(^|_)bytes$|memory_total|memory_used/i.test(key)) return humanBytes(v);
    if (/_s$/.test(key)) return humanDuration(v);
    if (/percent|_pct$/i.test(key)) return `${v.toFixed(1)} %`;
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (v === null || v === undefined) return "—";
  return String(v);
}

function Tree({ value, depth = 0 }: { value: unknown; depth?: number }) {
  if (Array.isArray(value)) {
    if (value.every((x) => typeof x !== "object" || x === null)) return <span>{value.map((x) => fmt("", x)).join(", ") || "—"}</span>;
    return (
      <div className="kv-list">
        {value.map((x, i) => (
          <div key={i} className="kv-item">
            <Tree value={x} depth={depth + 1} />
          </div>
        ))}
      </div>
    );
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    const plain = entries.filter(([, v]) => !(v && typeof v === "object" && !Array.isArray(v)));
    const nested = entries.filter(([, v]) => v && typeof v === "object" && !Array.isArray(v));
    return (
      <>
        {plain.length ? (
          <dl className={`kv depth-${depth}`}>
            {plain.map(([k, v]) => (
              <div key={k} className="kv-row">
                <dt>{humanLabel(k)}</dt>
                <dd>
                  {Array.isArray(v) ? <Tree value={v} depth={depth + 1} /> : fmt(k, v)}
                  {typeof v === "number" && /percent/i.test(k) ? (
                    <span className="meter">
                      <span style={{ width: `${Math.min(100, v)}%` }} />
                    </span>
                  ) : null}
                </dd>
              </div>
            ))}
          </dl>
        ) : null}
        {nested.map(([k, v]) => (
          <section key={k} className={`kv-section depth-${depth}`} data-testid="system-section" data-section={k}>
            {depth === 0 ? <h3 className="section-title">{humanLabel(k)}</h3> : <h4>{humanLabel(k)}</h4>}
            <Tree value={v} depth={depth + 1} />
          </section>
        ))}
      </>
    );
  }
  return <span>{fmt("", value)}</span>;
}

function Status() {
  const api = useApi();
  const status = useQuery({ queryKey: ["system-status"], queryFn: () => api.get<Record<string, unknown>>("/system/status"), refetchInterval: 3000 });
  const health = useQuery({ queryKey: ["health"], queryFn: () => api.request<Health>("GET", "/health", { auth: false }), refetchInterval: 3000 });
  const lastChecked = Math.max(status.dataUpdatedAt, status.errorUpdatedAt, health.dataUpdatedAt);
  return (
    <div className="grid-2" data-testid="admin-status">
      <section className="card">
        <h2>Services</h2>
        {health.data ? (
          <ul className="health-list">
            {Object.entries(health.data.services).map(([k, ok]) => (
              <li key={k}>
                <span className={`dot tone-${ok ? "ok" : "bad"}`} /> {k} <span className="muted">{ok ? "up" : "down"}</span>
              </li>
            ))}
          </ul>
        ) : (
          <Spinner />
        )}
        <p className="muted small" data-testid="status-checked-at">
          Refreshed every few seconds
          {lastChecked ? `, last at ${new Date(lastChecked).toLocaleTimeString()}` : ""}.
        </p>
      </section>
      <section className="card">
        <h2>Host and Docker</h2>
        {status.isPending ? <Spinner /> : status.error ? <div className="form-error">{errorText(status.error)}</div> : <Tree value={status.data} />}
      </section>
      <HostMetrics />
    </div>
  );
}

function About() {
  const api = useApi();
  const about = useQuery({ queryKey: ["system-about"], queryFn: () => api.get<Record<string, unknown>>("/system/about") });
  return (
    <section className="card" data-testid="admin-about">
      <h2>About this installation</h2>
      {about.isPending ? <Spinner /> : about.error ? <div className="form-error">{errorText(about.error)}</div> : <Tree value={about.data} />}
    </section>
  );
}
