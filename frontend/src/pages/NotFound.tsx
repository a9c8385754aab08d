import { Link, useRouteError } from "react-router";

export function NotFound() {
  return (
    <div className="center-page">
      <div className="card narrow">
        <h1>Not found</h1>
        <p className="muted">There is nothing at this address.</p>
        <Link to="/" className="btn btn-primary">
          Back to projects
        </Link>
      </div>
    </div>
  );
}

export function RouteError() {
  const err = useRouteError();
  return (
    <div className="center-page">
      <div className="card narrow">
        <h1>Something went wrong</h1>
        <p className="muted">{err instanceof Error ? err.message : "The page failed to load."}</p>
        <a href="/" className="btn btn-primary">
          Reload
        </a>
      </div>
    </div>
  );
}
