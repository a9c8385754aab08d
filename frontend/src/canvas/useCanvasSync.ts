import { useCallback, useEffect, useRef, useState } from "react";
import { applyEdgeChanges, applyNodeChanges, type Edge, type EdgeChange, type NodeChange } from "@xyflow/react";
import { useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { CanvasEdge, PendingChange, Presence, ServerMessage, Service } from "../api/types";
import { CanvasSocket, canvasSocketUrl, type Send, type SocketStatus } from "./socket";
import { presenceId, presenceName, sortForFlow, toFlowNode, type Cursor, type DraftView, type FlowNode } from "./model";
import { useToast } from "../ui/toast";

function toEdge(e: CanvasEdge): Edge {
  const managed = e.managed;
  return {
    id: e.id,
    source: e.source,
    target: e.target,
    animated: managed,
    deletable: true, // a managed (reference) edge's delete stages the removal of its variables
    className: managed ? "edge-managed" : "edge-user",
    data: { raw: e },
  };
}

/**
 * The live canvas of one project: the WebSocket, the React Flow nodes and edges, presence, cursors
 * and drafts. Pending changes and services live in the query cache so every panel sees the same truth.
 */
export function useCanvasSync(projectId: string, myUserId: string | undefined) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [status, setStatus] = useState<SocketStatus>("connecting");
  const [attempt, setAttempt] = useState(0);
  const [synced, setSynced] = useState(false);
  const [nodes, setNodes] = useState<FlowNode[]>([]);
  const [edges, setEdges] = useState<Edge[]>([]);
  const [users, setUsers] = useState<Presence[]>([]);
  const [cursors, setCursors] = useState<Record<string, Cursor>>({});
  const [drafts, setDrafts] = useState<Record<string, DraftView>>({});
  const [applied, setApplied] = useState<Record<string, string>>({});
  const socket = useRef<CanvasSocket | null>(null);
  const me = useRef(myUserId);
  me.current = myUserId;

  const setPending = useCallback(
    (f: (prev: PendingChange[]) => PendingChange[]) =>
      qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => f(prev ?? [])),
    [qc, projectId],
  );

  const patchService = useCallback(
    (id: string, patch: Partial<Service>) => {
      qc.setQueryData<Service[]>(keys.services(projectId), (prev) => prev?.map((s) => (s.id === id ? { ...s, ...patch } : s)));
    },
    [qc, projectId],
  );

  const handle = useCallback(
    (msg: ServerMessage) => {
      switch (msg.type) {
        case "canvas:state": {
          const { nodes: raw, edges: rawEdges } = msg.payload;
          setNodes((prev) => {
            const byId = new Map(prev.map((n) => [n.id, n]));
            return sortForFlow(raw.map((n) => toFlowNode(n, byId.get(n.id))));
          });
          setEdges(rawEdges.map(toEdge));
          setSynced(true);
          // A resync after a reconnect: what we cached may have missed events.
          void qc.invalidateQueries({ queryKey: keys.services(projectId) });
          break;
        }
        case "node:upserted": {
          const n = msg.payload;
          setNodes((prev) => {
            const i = prev.findIndex((x) => x.id === n.id);
            if (i === -1) return sortForFlow([...prev, toFlowNode(n)]);
            const next = prev.slice();
            next[i] = toFlowNode(n, prev[i]);
            return next[i]!.parentId !== prev[i]!.parentId ? sortForFlow(next) : next;
          });
          break;
        }
        case "node:deleted": {
          const id = msg.payload.id;
          setNodes((prev) => prev.filter((n) => n.id !== id));
          setEdges((prev) => prev.filter((e) => e.source !== id && e.target !== id));
          break;
        }
        case "node:moved": {
          const at = new Map(msg.payload.positions.map((q) => [q.id, q]));
          setNodes((prev) =>
            prev.map((n) => {
              const q = at.get(n.id);
              return q && !n.dragging
                ? { ...n, position: { x: q.position_x, y: q.position_y }, data: { node: { ...n.data.node, position_x: q.position_x, position_y: q.position_y } } }
                : n;
            }),
          );
          break;
        }
        case "edge:upserted": {
          const e = toEdge(msg.payload);
          setEdges((prev) => [...prev.filter((x) => x.id !== e.id), e]);
          break;
        }
        case "edge:deleted": {
          const id = msg.payload.id;
          setEdges((prev) => prev.filter((e) => e.id !== id));
          break;
        }
        case "users:list":
          setUsers(msg.payload.users);
          break;
        case "user:joined": {
          const u = msg.payload;
          setUsers((prev) => [...prev.filter((x) => presenceId(x) !== presenceId(u)), u]);
          break;
        }
        case "user:left": {
          const id = presenceId(msg.payload);
          setUsers((prev) => prev.filter((x) => presenceId(x) !== id));
          setCursors((prev) => {
            const { [id]: _gone, ...rest } = prev;
            return rest;
          });
          break;
        }
        case "cursor:updated": {
          const c = msg.payload;
          if (c.user_id === me.current) break;
          setCursors((prev) => ({ ...prev, [c.user_id]: { user_id: c.user_id, user_name: presenceName(c), x: c.x, y: c.y } }));
          break;
        }
        case "service:drafts": {
          setDrafts(Object.fromEntries(msg.payload.drafts.filter((d) => d.user_id !== me.current).map((d) => [d.draft_id, d])));
          break;
        }
        case "service:drafting": {
          const d: DraftView = msg.payload;
          if (d.user_id !== me.current) setDrafts((prev) => ({ ...prev, [d.draft_id]: { ...prev[d.draft_id], ...d } }));
          break;
        }
        case "service:draft-cancelled": {
          const id = msg.payload.draft_id;
          setDrafts((prev) => {
            const { [id]: _gone, ...rest } = prev;
            return rest;
          });
          break;
        }
        case "pending-changes:state":
          setPending(() => msg.payload.changes);
          break;
        case "pending-change:added": {
          const c = msg.payload;
          setPending((prev) => (prev.some((x) => x.id === c.id) ? prev : [...prev, c]));
          break;
        }
        case "pending-changes:removed": {
          const ids = new Set(msg.payload.ids);
          setPending((prev) => prev.filter((c) => !ids.has(c.id)));
          break;
        }
        case "pending-changes:cleared":
          setPending(() => []);
          break;
        case "pending-changes:applied": {
          setPending(() => []);
          const r = msg.payload;
          const remap = r.temp_id_to_service_id;
          if (Object.keys(remap).length) {
            setNodes((prev) =>
              prev.map((n) => {
                const real = remap[n.id];
                return real && !prev.some((x) => x.id === real) ? { ...n, id: real, data: { node: { ...n.data.node, id: real } } } : n;
              }),
            );
            setEdges((prev) => prev.map((e) => ({ ...e, source: remap[e.source] ?? e.source, target: remap[e.target] ?? e.target })));
            setApplied(remap);
          }
          void qc.invalidateQueries({ queryKey: keys.project(projectId) });
          if (r.user_id !== me.current) {
            toast.info(`${r.applied_count} change${r.applied_count === 1 ? "" : "s"} deployed.`);
          }
          break;
        }
        case "service:status-changed": {
          patchService(msg.payload.service_id, { status: msg.payload.status });
          void qc.invalidateQueries({ queryKey: keys.services(projectId) });
          break;
        }
        case "service:upserted":
        case "service:created":
        case "service:deleted":
          void qc.invalidateQueries({ queryKey: keys.services(projectId) });
          break;
        case "error":
          toast.error(msg.payload.message || "The canvas reported an error.");
          break;
        case "deployment:failed": {
          // The deploy request only started it: the failure is news, and it is red.
          const svc = qc.getQueryData<Service[]>(keys.services(projectId))?.find((s) => s.id === msg.payload.service_id);
          toast.error(`${svc?.name ?? "A service"}: the deployment failed. See its Deployments tab.`);
          void qc.invalidateQueries({ queryKey: keys.service(projectId, msg.payload.service_id) });
          void qc.invalidateQueries({ queryKey: keys.services(projectId) });
          break;
        }
        case "deployment:created":
        case "deployment:building":
        case "deployment:starting":
        case "deployment:healthy":
        case "deployment:cancelled":
        case "container:created":
        case "container:deleted":
          void qc.invalidateQueries({ queryKey: keys.service(projectId, msg.payload.service_id) });
          void qc.invalidateQueries({ queryKey: keys.services(projectId) });
          break;
        default: {
          const unhandled: never = msg;
          void unhandled;
        }
      }
    },
    [qc, projectId, setPending, patchService, toast],
  );

  const handleRef = useRef(handle);
  handleRef.current = handle;

  useEffect(() => {
    setSynced(false);
    const s = new CanvasSocket({
      url: canvasSocketUrl(projectId),
      token: () => api.accessToken(),
      refresh: async () => (await api.refresh().catch(() => null)) !== null || api.isSignedIn(),
      onMessage: (m) => handleRef.current(m),
      onStatus: (st, n) => {
        setStatus(st);
        setAttempt(n);
      },
      onAuthLost: () => api.onAuthLost("Your session has expired. Please sign in again."),
    });
    socket.current = s;
    s.start();
    return () => {
      s.stop();
      socket.current = null;
    };
  }, [api, projectId]);

  const send = useCallback<Send>((type, payload) => socket.current?.send(type, payload) ?? false, []);

  const onNodesChange = useCallback((changes: NodeChange<FlowNode>[]) => {
    setNodes((prev) => applyNodeChanges(changes, prev));
  }, []);

  // Only selection is local (so that Delete can act on an edge); removals go through the server.
  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    const selects = changes.filter((c) => c.type === "select");
    if (selects.length) setEdges((es) => applyEdgeChanges(selects, es));
  }, []);
  return { applied, status, attempt, synced, nodes, setNodes, edges, setEdges, users, cursors, drafts, send, onNodesChange, onEdgesChange };
}
