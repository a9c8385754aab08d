import { useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "../app";
import type { AuthTokens, User } from "../api/types";
import { Field, Spinner, errorText, fieldError } from "../ui/controls";
import { useToast } from "../ui/toast";

function useCanRegister() {
  const api = useApi();
  return useQuery({
    queryKey: ["can_register"],
    queryFn: () => api.request<{ can_register: boolean }>("GET", "/auth/register", { auth: false }),
  });
}

function AuthCard({ title, subtitle, children }: { title: string; subtitle?: string; children: React.ReactNode }) {
  return (
    <div className="center-page">
      <div className="card auth-card">
        <div className="brand big">
          <span className="brand-mark">◆</span> DeployKit
        </div>
        <h1>{title}</h1>
        {subtitle ? <p className="muted">{subtitle}</p> : null}
        {children}
      </div>
    </div>
  );
}

function RegisterForm({ testPrefix, submitLabel }: { testPrefix: string; submitLabel: string }) {
  const api = useApi();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const toast = useToast();
  const [form, setForm] = useState({ name: "", email: "", password: "" });
  const [local, setLocal] = useState<Record<string, string>>({});
  const m = useMutation({
    mutationFn: () =>
      api.request<{ user: User; tokens: AuthTokens }>("POST", "/auth/register", { body: form, auth: false }),
    onSuccess: (res) => {
      api.setTokens(res.tokens);
      qc.setQueryData(["me"], res.user);
      qc.setQueryData(["can_register"], { can_register: false });
      toast.success(`Welcome, ${res.user.name}.`);
      navigate("/");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs: Record<string, string> = {};
    if (!form.name.trim()) errs["name"] = "Enter your name.";
    if (!/.+@.+/.test(form.email)) errs["email"] = "Enter a valid email address.";
    if (form.password.length < 8) errs["password"] = "Use at least 8 characters.";
    setLocal(errs);
    if (Object.keys(errs).length === 0) m.mutate();
  };
  const set = (k: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) => setForm({ ...form, [k]: e.target.value });
  return (
    <form onSubmit={submit} noValidate>
      <Field label="Name" name="name" value={form.name} onChange={set("name")} autoComplete="name" data-testid={`${testPrefix}-name`} error={local["name"] ?? fieldError(m.error, "name")} />
      <Field label="Email" name="email" type="email" value={form.email} onChange={set("email")} autoComplete="email" data-testid={`${testPrefix}-email`} error={local["email"] ?? fieldError(m.error, "email")} />
      <Field label="Password" name="password" type="password" value={form.password} onChange={set("password")} autoComplete="new-password" data-testid={`${testPrefix}-password`} error={local["password"] ?? fieldError(m.error, "password")} hint="At least 8 characters." />
      <button className="btn btn-primary btn-block" disabled={m.isPending} data-testid={`${testPrefix}-submit`}>
        {m.isPending ? "Creating…" : submitLabel}
      </button>
    </form>
  );
}

export function SetupPage() {
  const api = useApi();
  const reg = useCanRegister();
  if (reg.isPending) return <Spinner />;
  if (reg.data && !reg.data.can_register) return <Navigate to={api.isSignedIn() ? "/" : "/login"} replace />;
  return (
    <AuthCard title="Welcome to DeployKit" subtitle="Create the first account. It becomes the administrator of this installation.">
      <div data-testid="setup-wizard">
        <ol className="steps">
          <li className="active">Create the admin account</li>
          <li>Create a project</li>
          <li>Deploy a service</li>
        </ol>
        <RegisterForm testPrefix="setup" submitLabel="Create admin account" />
      </div>
    </AuthCard>
  );
}

export function RegisterPage() {
  const api = useApi();
  const reg = useCanRegister();
  if (reg.isPending) return <Spinner />;
  if (api.isSignedIn() && reg.data && !reg.data.can_register) return <Navigate to="/" replace />;
  if (reg.data && !reg.data.can_register) {
    return (
      <AuthCard title="Registration is closed" subtitle="Ask an administrator to create an account for you.">
        <Link to="/login" className="btn btn-primary btn-block">
          Sign in
        </Link>
      </AuthCard>
    );
  }
  return (
    <AuthCard title="Create an account">
      <RegisterForm testPrefix="register" submitLabel="Create account" />
      <p className="muted small">
        Already have an account? <Link to="/login">Sign in</Link>
      </p>
    </AuthCard>
  );
}

export function LoginPage() {
  const api = useApi();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const toast = useToast();
  const [params] = useSearchParams();
  const reg = useCanRegister();
  const [form, setForm] = useState({ email: "", password: "" });
  const m = useMutation({
    mutationFn: () => api.request<AuthTokens>("POST", "/auth/login", { body: form, auth: false }),
    onSuccess: (tokens) => {
      api.setTokens(tokens);
      qc.removeQueries({ queryKey: ["me"] });
      toast.success("Signed in.");
      const next = params.get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/");
    },
  });
  if (reg.data?.can_register) return <Navigate to="/setup" replace />;
  return (
    <AuthCard title="Sign in">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          m.mutate();
        }}
        data-testid="login-form"
      >
        <Field label="Email" name="email" type="email" autoComplete="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} data-testid="login-email" error={fieldError(m.error, "email")} />
        <Field label="Password" name="password" type="password" autoComplete="current-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} data-testid="login-password" error={fieldError(m.error, "password")} />
        {m.error ? (
          <div className="form-error" role="alert" data-testid="login-error">
            {errorText(m.error)}
          </div>
        ) : null}
        <button className="btn btn-primary btn-block" disabled={m.isPending} data-testid="login-submit">
          {m.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </AuthCard>
  );
}
