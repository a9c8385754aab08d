import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "../app";
import type { components } from "../api/schema";
import { ConfirmDialog, Spinner, errorText } from "../ui/controls";
import { CopyField } from "../ui/CopyField";
import { useToast } from "../ui/toast";
import { formatBytes, formatCpus } from "../lib/units";

type NodeList = components["schemas"]["NodeList"];
type Node = components["schemas"]["NodeOut"];
type Join = components["schemas"]["JoinCommandOut"];
type Change = { node: Node; to: "drain" | "activate" };

const STATE_TONE: Record<Node["state"], string> = { ready: "ok", down: "bad", disconnected: "bad", unknown: "warn" };
const AVAILABILITY_TONE: Record<Node["availability"], string> = { active: "ok", pause: "warn", drain: "warn" };

/** The admin page's Nodes tab: the machines services run on (a swarm's nodes, or the one local
 * engine), drain and activate with a confirmation, and the command that joins a new worker. */
export function Nodes() {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [change, setChange] = useState<Change | null>(null);
  const nodes = useQuery({ queryKey: ["nodes"], queryFn: () => api.get<NodeList>("/nodes"), refetchInterval: 5000 });
  const list = nodes.data?.data ?? [];
  const standalone = list.length > 0 && list.every((n) => n.role === "standalone");
  const update = useMutation({
    mutationFn: ({ node, to }: Change) => api.post<Node>(`/nodes/${node.id}/${to}`),
    onSuccess: (n) => {
      setChange(null);
      void qc.invalidateQueries({ queryKey: ["nodes"] });
      toast.success(n.availability === "drain" ? `${n.hostname} is draining: its tasks move to the other nodes.` : `${n.hostname} takes tasks again.`);
    },
    onError: (err) => {
      setChange(null);
      toast.error(errorText(err));
    },
  });
  return (
    <div data-testid="admin-nodes">
      <section className="card">
        <h2>
          Nodes {nodes.data ? <span className="badge">{nodes.data.total_count}</span> : null}
        </h2>
        {nodes.isPending ? <Spinner /> : null}
        {nodes.error ? <div className="form-error">{errorText(nodes.error)}</div> : null}
        {standalone ? (
          <p className="muted small" data-testid="nodes-standalone">
            This daemon runs one Docker engine. Start it with <code>--runtime swarm</code> on a swarm manager to spread services across machines.
          </p>
        ) : null}
        {list.length ? (
          <table className="env-table nodes-table">
            <thead>
              <tr className="muted small">
                <th>Node</th>
                <th>Role</th>
                <th>Availability</th>
                <th>State</th>
                <th>Resources</th>
                <th>Tasks</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((n) => (
                <tr key={n.id} data-testid="node-row" data-hostname={n.hostname} data-role={n.role} data-availability={n.availability} data-state={n.state}>
                  <td>
                    <strong>{n.hostname || n.id.slice(0, 12)}</strong>
                    {n.leader ? <span className="badge">leader</span> : null}
                    <div className="muted small mono">
                      {n.address || "local"} · Docker {n.engine_version}
                    </div>
                  </td>
                  <td className="small">{n.role}</td>
                  <td className="small">
                    <span className={`dot tone-${AVAILABILITY_TONE[n.availability]}`} /> {n.availability}
                  </td>
                  <td className="small">
                    <span className={`dot tone-${STATE_TONE[n.state]}`} /> {n.state}
                    {n.message ? <div className="muted small">{n.message}</div> : null}
                  </td>
                  <td className="small" data-testid="node-resources">
                    {formatCpus(n.cpus)} · {formatBytes(n.memory_bytes)}
                  </td>
                  <td className="small" data-testid="node-tasks">
                    {n.running_tasks} running
                  </td>
                  <td className="env-actions">
                    {n.role === "standalone" ? null : n.availability === "drain" ? (
                      <button className="btn btn-sm" onClick={() => setChange({ node: n, to: "activate" })} data-testid="node-activate">
                        Activate
                      </button>
                    ) : (
                      <button className="btn btn-sm" onClick={() => setChange({ node: n, to: "drain" })} data-testid="node-drain">
                        Drain
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </section>
      {list.length && !standalone ? <JoinCard /> : null}
      {change ? (
        <ConfirmDialog
          title={change.to === "drain" ? `Drain ${change.node.hostname}?` : `Activate ${change.node.hostname}?`}
          body={
            change.to === "drain" ? (
              <p>
                Its {change.node.running_tasks} running task(s) are stopped there and started on the other nodes, and it gets no new ones until it is activated. A service pinned to it
                (one with a volume) stops until then.
              </p>
            ) : (
              <p>It takes new tasks again. Running tasks stay where they are until their next update.</p>
            )
          }
          confirmLabel={change.to === "drain" ? "Drain" : "Activate"}
          danger={change.to === "drain"}
          busy={update.isPending}
          onConfirm={() => update.mutate(change)}
          onClose={() => setChange(null)}
        />
      ) : null}
    </div>
  );
}

function JoinCard() {
  const api = useApi();
  const join = useQuery({ queryKey: ["nodes-join"], queryFn: () => api.get<Join>("/nodes/join") });
  return (
    <section className="card" data-testid="nodes-join">
      <h2>Add a worker</h2>
      <p className="muted small">
        On the new machine, with Docker installed and the manager&apos;s address reachable (TCP 2377 and 7946, UDP 7946 and 4789), run:
      </p>
      {join.isPending ? <Spinner /> : null}
      {join.error ? <div className="form-error">{errorText(join.error)}</div> : null}
      {join.data ? <CopyField label="Join command" value={join.data.command} testId="nodes-join-command" /> : null}
      <p className="muted small">The token lets any machine join: share it like a password.</p>
    </section>
  );
}
