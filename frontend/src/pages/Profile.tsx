import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi, useMe } from "../app";
import type { ApiKey, ApiKeyList, User } from "../api/types";
import { ConfirmDialog, Field, Modal, Spinner, errorText, fieldError, timeAgo } from "../ui/controls";
import { FormModal, ListCard } from "../ui/ListCard";
import { useToast } from "../ui/toast";

export function ProfilePage() {
  const me = useMe();
  if (!me.data) return <Spinner />;
  return (
    <div className="page narrow-page" data-testid="profile-page">
      <h1>Profile</h1>
      <ProfileForm user={me.data} />
      <ApiKeys />
    </div>
  );
}

function ProfileForm({ user }: { user: User }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const blank = { new_password: "", current_password: "", revoke_api_keys: false };
  const [form, setForm] = useState({ name: user.name, email: user.email, ...blank });
  const needsCurrent = form.email !== user.email || form.new_password !== "";
  const m = useMutation({
    mutationFn: () => {
      const body: Record<string, string | boolean> = {};
      if (form.name !== user.name) body["name"] = form.name;
      if (form.email !== user.email) body["email"] = form.email;
      if (form.new_password) body["new_password"] = form.new_password;
      if (needsCurrent) body["current_password"] = form.current_password;
      if (form.new_password && form.revoke_api_keys) body["revoke_api_keys"] = true;
      return api.patch<User>("/auth/profile", body);
    },
    onSuccess: (u) => {
      const passwordChanged = form.new_password !== "";
      const keysRevoked = passwordChanged && form.revoke_api_keys;
      qc.setQueryData(["me"], u);
      if (keysRevoked) void qc.invalidateQueries({ queryKey: ["api-keys"] });
      setForm({ name: u.name, email: u.email, ...blank });
      toast.success(
        keysRevoked
          ? "Password changed. Your other sessions are signed out and your API keys deleted."
          : passwordChanged
            ? "Password changed. Your other sessions are signed out."
            : "Profile saved.",
      );
    },
    onError: (err) => toast.error(errorText(err)),
  });
  return (
    <section className="card">
      <h2>Account</h2>
      <form
        className="form-grid"
        onSubmit={(e) => {
          e.preventDefault();
          m.mutate();
        }}
      >
        <Field label="Name" name="name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} error={fieldError(m.error, "name")} />
        <Field label="Email" name="email" type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} error={fieldError(m.error, "email")} />
        <Field label="New password" name="new_password" type="password" autoComplete="new-password" value={form.new_password} onChange={(e) => setForm({ ...form, new_password: e.target.value })} error={fieldError(m.error, "new_password")} hint="Leave empty to keep the current one. A new one signs out your other sessions." />
        {needsCurrent ? (
          <Field label="Current password" name="current_password" type="password" autoComplete="current-password" value={form.current_password} onChange={(e) => setForm({ ...form, current_password: e.target.value })} error={fieldError(m.error, "current_password")} hint="Needed to change email or password." />
        ) : (
          <div />
        )}
        {form.new_password !== "" && (
          <label className="span-2 check">
            <input type="checkbox" checked={form.revoke_api_keys} onChange={(e) => setForm({ ...form, revoke_api_keys: e.target.checked })} data-testid="profile-revoke-keys" /> Also delete my API keys (do this if the old password may have leaked)
          </label>
        )}
        <div className="span-2 row gap">
          <button className="btn btn-primary" disabled={m.isPending} data-testid="profile-save">
            {m.isPending ? "Saving…" : "Save"}
          </button>
        </div>
      </form>
    </section>
  );
}

function ApiKeys() {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const keysQ = useQuery({
    queryKey: ["api-keys"],
    queryFn: async () => (await api.get<ApiKeyList>("/api-keys?limit=100")).data,
  });
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<ApiKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [form, setForm] = useState({ description: "", expires: "" });
  const create = useMutation({
    mutationFn: () =>
      api.post<ApiKey>("/api-keys", {
        description: form.description,
        expires_at: form.expires ? new Date(`${form.expires}T23:59:59Z`).toISOString() : null,
      }),
    onSuccess: (k) => {
      setCreated(k);
      setCreating(false);
      setForm({ description: "", expires: "" });
      void qc.invalidateQueries({ queryKey: ["api-keys"] });
      toast.success("API key created.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const revoke = useMutation({
    mutationFn: (k: ApiKey) => api.del(`/api-keys/${k.id}`),
    onSuccess: () => {
      setRevoking(null);
      void qc.invalidateQueries({ queryKey: ["api-keys"] });
      toast.success("API key revoked.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  return (
    <ListCard
      title="API keys"
      testId="api-keys"
      addLabel="New key"
      addTestId="api-key-new"
      onAdd={() => setCreating(true)}
      intro="Use a key as a Bearer token for scripts and CI. It acts as you."
      items={keysQ.data}
      isPending={keysQ.isPending}
      emptyText="No keys yet."
      row={(k) => (
        <tr key={k.id} data-testid="api-key-row">
          <td>
            <strong>{k.description || "—"}</strong>
            {k.prefix ? <code className="muted"> {k.prefix}…</code> : null}
          </td>
          <td className="small muted">
            created {timeAgo(k.created_at)} · {k.expires_at ? `expires ${new Date(k.expires_at).toLocaleDateString()}` : "never expires"}
            {k.last_used_at ? ` · used ${timeAgo(k.last_used_at)}` : ""}
          </td>
          <td className="env-actions">
            <button className="link-btn small danger" onClick={() => setRevoking(k)}>
              Revoke
            </button>
          </td>
        </tr>
      )}
    >
      {creating ? (
        <FormModal title="New API key" onClose={() => setCreating(false)} onSubmit={() => create.mutate()} submitLabel="Create key" busy={create.isPending} submitTestId="api-key-create">
          <Field label="Description" name="description" value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} error={fieldError(create.error, "description")} placeholder="CI deploys" data-testid="api-key-description" />
          <Field label="Expires on (optional)" name="expires_at" type="date" value={form.expires} onChange={(e) => setForm({ ...form, expires: e.target.value })} error={fieldError(create.error, "expires_at")} />
        </FormModal>
      ) : null}
      {created ? (
        <Modal title="Copy your new key" onClose={() => setCreated(null)}>
          <p>This is the only time the key is shown.</p>
          <div className="row gap">
            <code className="token" data-testid="api-key-token">
              {created.token}
            </code>
            <button
              className="btn btn-sm"
              onClick={() => {
                void navigator.clipboard?.writeText(created.token ?? "");
                toast.success("Copied.");
              }}
            >
              Copy
            </button>
          </div>
          <div className="modal-actions">
            <button className="btn btn-primary" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </Modal>
      ) : null}
      {revoking ? (
        <ConfirmDialog
          title="Revoke this key?"
          body={<p>Anything using “{revoking.description}” stops working at once.</p>}
          confirmLabel="Revoke"
          danger
          busy={revoke.isPending}
          onConfirm={() => revoke.mutate(revoking)}
          onClose={() => setRevoking(null)}
        />
      ) : null}
    </ListCard>
  );
}
