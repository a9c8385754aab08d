import { useEffect, useState } from "react";
import { Link, NavLink, Navigate, Outlet, useLocation, useNavigate } from "react-router";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { initials, useApi, useMe, userColour } from "../app";
import { authLostBus } from "../authLost";
import { useToast } from "../ui/toast";
import { Spinner } from "../ui/controls";

export function Shell() {
  const toast = useToast();
  useEffect(() => {
    const pending = authLostBus.take();
    if (pending) toast.error(pending);
    return authLostBus.subscribe((reason) => {
      authLostBus.take();
      toast.error(reason);
    });
  }, [toast]);
  return <Outlet />;
}

export function RequireAuth() {
  const api = useApi();
  const location = useLocation();
  const signedIn = api.isSignedIn();
  const reg = useQuery({
    queryKey: ["can_register"],
    queryFn: () => api.request<{ can_register: boolean }>("GET", "/auth/register", { auth: false }),
    enabled: !signedIn,
  });
  if (!signedIn) {
    if (reg.isPending) return <Spinner />;
    if (reg.data?.can_register) return <Navigate to="/setup" replace />;
    return <Navigate to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  }
  return (
    <div className="app">
      <TopBar />
      <main className="app-main">
        <Outlet />
      </main>
    </div>
  );
}

function TopBar() {
  const api = useApi();
  const me = useMe();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const logout = async () => {
    try {
      await api.post("/auth/logout");
    } catch {
      // the session is dropped locally either way
    }
    api.setTokens(null);
    qc.clear();
    toast.success("Signed out.");
    navigate("/login");
  };
  return (
    <header className="topbar">
      <Link to="/" className="brand" data-testid="brand">
        <span className="brand-mark">◆</span> DeployKit
      </Link>
      <nav className="topnav">
        <NavLink to="/" end>
          Projects
        </NavLink>
        {me.data?.role === "admin" ? <NavLink to="/admin" data-testid="nav-admin">Admin</NavLink> : null}
      </nav>
      <div className="topbar-right" id="topbar-slot" />
      <div className="user-menu">
        <button
          className="avatar"
          style={{ background: userColour(me.data?.id ?? "") }}
          aria-haspopup="menu"
          aria-expanded={open}
          onClick={() => setOpen((o) => !o)}
          data-testid="user-menu"
          title={me.data?.email}
        >
          {initials(me.data?.name)}
        </button>
        {open ? (
          <div className="menu" role="menu" onMouseLeave={() => setOpen(false)}>
            <div className="menu-head">
              <strong>{me.data?.name}</strong>
              <span className="muted">{me.data?.email}</span>
            </div>
            <Link role="menuitem" to="/profile" onClick={() => setOpen(false)} data-testid="nav-profile">
              Profile & API keys
            </Link>
            {me.data?.role === "admin" ? (
              <Link role="menuitem" to="/admin" onClick={() => setOpen(false)}>
                Admin settings
              </Link>
            ) : null}
            <button role="menuitem" onClick={logout} data-testid="logout">
              Sign out
            </button>
          </div>
        ) : null}
      </div>
    </header>
  );
}
