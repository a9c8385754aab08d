import { useCallback, useEffect, useMemo, useRef, useState, type MouseEvent as ReactMouseEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import {
  Background,
  BackgroundVariant,
  Controls,
  ReactFlow,
  ReactFlowProvider,
  ViewportPortal,
  useReactFlow,
  type Connection,
  type NodeChange,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { initials, keys, useApi, useMe, userColour } from "../app";
import type { PendingChange, Project, Service } from "../api/types";
import { stagedProjectName, stagedServices, usePendingDiff } from "../lib/stagedDiff";
import { Spinner, errorText } from "../ui/controls";
import { useToast } from "../ui/toast";
import { CanvasContext, nodeTypes, type CanvasContextValue } from "./nodes";
import { kindOfNode, labelOf, presenceId, presenceName, serviceKeyOf, type FlowNode } from "./model";
import { useCanvasSync } from "./useCanvasSync";
import { PendingBar } from "./PendingBar";
import { AddServiceDialog } from "./AddServiceDialog";
import { GroupVariablesDialog } from "./GroupVariablesDialog";
import { ServicePanel } from "../service/ServicePanel";
import { useServiceActions } from "../service/actions";

interface MenuState {
  x: number;
  y: number;
  flow: { x: number; y: number };
  nodeId?: string;
}

function listOf<T>(res: T[] | { data: T[] }): T[] {
  return Array.isArray(res) ? res : res.data;
}

export function CanvasPage() {
  const { projectId = "" } = useParams();
  return (
    <ReactFlowProvider>
      <Canvas projectId={projectId} key={projectId} />
    </ReactFlowProvider>
  );
}

function Canvas({ projectId }: { projectId: string }) {
  const api = useApi();
  const toast = useToast();
  const me = useMe();
  const rf = useReactFlow<FlowNode>();
  const [params, setParams] = useSearchParams();
  const selectedService = params.get("service");
  const project = useQuery({ queryKey: keys.project(projectId), queryFn: () => api.get<Project>(`/projects/${projectId}`) });
  const services = useQuery({
    queryKey: keys.services(projectId),
    queryFn: async () => listOf(await api.get<Service[] | { data: Service[] }>(`/projects/${projectId}/services?limit=100`)),
  });
  const pending = useQuery({
    queryKey: keys.pending(projectId),
    queryFn: async () => listOf(await api.get<PendingChange[] | { data: PendingChange[] }>(`/projects/${projectId}/pending-changes?limit=100`)),
  });
  const sync = useCanvasSync(projectId, me.data?.id);
  const { send, setNodes } = sync;
  const [menu, setMenu] = useState<MenuState | null>(null);
  const [adding, setAdding] = useState<{ x: number; y: number } | null>(null);
  const [groupVars, setGroupVars] = useState<{ id: string; name: string } | null>(null);
  const actions = useServiceActions(projectId);

  const serviceMap = useMemo(() => new Map((services.data ?? []).map((s) => [s.id, s])), [services.data]);
  const diff = usePendingDiff(projectId, pending.data);
  const staged = useMemo(() => stagedServices(diff.data), [diff.data]);
  const stagedName = useMemo(() => stagedProjectName(diff.data), [diff.data]);

  const upsertNode = useCallback(
    (id: string, patch: Record<string, unknown>, dataPatch?: Record<string, unknown>) => {
      const n = rf.getNode(id);
      if (!n) return;
      const raw = n.data.node;
      const next = { ...raw, ...patch, data: { ...(raw.data ?? {}), ...(dataPatch ?? {}) } };
      setNodes((prev) => prev.map((x) => (x.id === id ? { ...x, data: { node: next } } : x)));
      send("node:upsert", next as unknown as Record<string, unknown>);
    },
    [rf, send, setNodes],
  );

  const ctx = useMemo<CanvasContextValue>(
    () => ({
      services: serviceMap,
      staged,
      onResize: (id, width, height) => upsertNode(id, { width: Math.round(width), height: Math.round(height) }),
      onNoteEdit: (id, text) => upsertNode(id, { text }, { text }),
      onGroupRename: (id, name) => upsertNode(id, { label: name }, { name, label: name }),
    }),
    [serviceMap, staged, upsertNode],
  );

  // Stream drags to the others at most every 33 ms; the final position is always sent.
  const moveQueue = useRef(new Map<string, { id: string; position_x: number; position_y: number }>());
  const moveTimer = useRef<number | null>(null);
  const flushMoves = useCallback(() => {
    moveTimer.current = null;
    if (moveQueue.current.size === 0) return;
    send("node:move", { positions: [...moveQueue.current.values()] });
    moveQueue.current.clear();
  }, [send]);
  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      sync.onNodesChange(changes);
      let final = false;
      for (const c of changes) {
        if (c.type === "position" && c.position) {
          moveQueue.current.set(c.id, { id: c.id, position_x: Math.round(c.position.x), position_y: Math.round(c.position.y) });
          if (!c.dragging) final = true;
        }
      }
      if (final) flushMoves();
      else if (moveQueue.current.size && moveTimer.current === null) moveTimer.current = window.setTimeout(flushMoves, 33);
    },
    [sync, flushMoves],
  );

  const onNodeDragStop = useCallback(
    (_: unknown, node: FlowNode) => {
      flushMoves();
      if (node.type === "group") return;
      const abs = rf.getInternalNode(node.id)?.internals.positionAbsolute ?? node.position;
      const w = node.measured?.width ?? 220;
      const h = node.measured?.height ?? 90;
      const center = { x: abs.x + w / 2, y: abs.y + h / 2 };
      const group = rf
        .getNodes()
        .filter((n) => n.type === "group" && n.id !== node.id)
        .find((g) => {
          const gp = rf.getInternalNode(g.id)?.internals.positionAbsolute ?? g.position;
          const gw = g.measured?.width ?? Number(g.style?.width ?? 0);
          const gh = g.measured?.height ?? Number(g.style?.height ?? 0);
          return center.x >= gp.x && center.x <= gp.x + gw && center.y >= gp.y && center.y <= gp.y + gh;
        });
      const newParent = group?.id;
      if (newParent === node.parentId) return;
      let position = abs;
      if (group) {
        const gp = rf.getInternalNode(group.id)?.internals.positionAbsolute ?? group.position;
        position = { x: abs.x - gp.x, y: abs.y - gp.y };
      }
      const raw = node.data.node;
      const next = {
        ...raw,
        parent_id: newParent ?? null,
        position_x: Math.round(position.x),
        position_y: Math.round(position.y),
      };
      setNodes((prev) => {
        const rest = prev.filter((n) => n.id !== node.id);
        const updated: FlowNode = { ...node, position, data: { node: next }, ...(newParent ? { parentId: newParent } : {}) };
        if (!newParent) delete updated.parentId;
        return [...rest, updated];
      });
      send("node:upsert", next as unknown as Record<string, unknown>);
    },
    [rf, send, setNodes, flushMoves],
  );

  // Cursor: flow coordinates, throttled, trailing edge kept.
  const cursorAt = useRef<{ x: number; y: number } | null>(null);
  const cursorTimer = useRef<number | null>(null);
  const onMouseMove = useCallback(
    (e: ReactMouseEvent) => {
      cursorAt.current = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      if (cursorTimer.current !== null) return;
      cursorTimer.current = window.setTimeout(() => {
        cursorTimer.current = null;
        if (cursorAt.current) send("cursor:move", { x: Math.round(cursorAt.current.x), y: Math.round(cursorAt.current.y) });
      }, 50);
    },
    [rf, send],
  );
  useEffect(() => () => {
    if (cursorTimer.current !== null) clearTimeout(cursorTimer.current);
    if (moveTimer.current !== null) clearTimeout(moveTimer.current);
  }, []);

  const openMenu = (e: ReactMouseEvent | MouseEvent, nodeId?: string) => {
    e.preventDefault();
    setMenu({ x: e.clientX, y: e.clientY, flow: rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }), ...(nodeId ? { nodeId } : {}) });
  };

  const addNote = (at: { x: number; y: number }) => {
    const id = crypto.randomUUID();
    send("node:upsert", { id, type: "note", position_x: Math.round(at.x), position_y: Math.round(at.y), width: 200, height: 100, text: "", data: { text: "" } });
  };
  const addGroup = (at: { x: number; y: number }) => {
    const id = crypto.randomUUID();
    send("node:upsert", { id, type: "group", position_x: Math.round(at.x), position_y: Math.round(at.y), width: 460, height: 300, label: "Group", data: { name: "Group" } });
  };
  const deleteNode = async (id: string) => {
    const n = rf.getNode(id);
    if (!n) return;
    if (n.type === "service") {
      const key = serviceKeyOf(n.data.node);
      if (key && serviceMap.has(key)) {
        await actions.stageDelete(key, serviceMap.get(key)!.name);
        return;
      }
      // A staged service: the hub discards its creation along with the node.
      if (send("node:delete", { id })) toast.success("Staged service discarded.");
      else toast.error("The canvas is offline; try again once it reconnects.");
      return;
    }
    send("node:delete", { id });
  };

  const onNodeClick = (_: ReactMouseEvent, node: FlowNode) => {
    if (node.type !== "service") return;
    const key = serviceKeyOf(node.data.node) ?? node.id;
    setParams((p) => {
      p.set("service", key);
      return p;
    });
  };

  const onConnect = (c: Connection) => {
    if (!c.source || !c.target) return;
    send("edge:upsert", { id: crypto.randomUUID(), source: c.source, target: c.target });
  };

  // A service created through the API gets its canvas node from the server; put it where the user clicked.
  const placement = useRef<{ ids: string[]; x: number; y: number } | null>(null);
  const placeNew = useCallback(() => {
    const want = placement.current;
    if (!want) return;
    const n = rf.getNodes().find((x) => want.ids.includes(x.id) || want.ids.includes(serviceKeyOf(x.data.node) ?? ""));
    if (!n) return;
    placement.current = null;
    const position = { x: Math.round(want.x), y: Math.round(want.y) };
    setNodes((prev) => prev.map((x) => (x.id === n.id ? { ...x, position } : x)));
    send("node:move", { positions: [{ id: n.id, position_x: position.x, position_y: position.y }] });
  }, [rf, send, setNodes]);
  useEffect(placeNew, [sync.nodes, placeNew]);

  // After a deploy the staged temp ids become real service ids; keep the open panel on its service.
  useEffect(() => {
    const real = selectedService ? sync.applied[selectedService] : undefined;
    if (real) {
      setParams((p) => {
        p.set("service", real);
        return p;
      }, { replace: true });
    }
  }, [sync.applied, selectedService, setParams]);

  const presets = useQuery({
    queryKey: ["presets"],
    queryFn: async () => listOf(await api.get<{ id: string; name: string }[] | { data: { id: string; name: string }[] }>("/presets/databases")),
    retry: false,
    staleTime: 300_000,
  });

  if (project.error) {
    return (
      <div className="page">
        <div className="form-error">{errorText(project.error)}</div>
        <Link to="/">Back to projects</Link>
      </div>
    );
  }

  const cursorList = Object.values(sync.cursors);
  const draftList = Object.values(sync.drafts);
  const selectedNodeService = selectedService;

  return (
    <CanvasContext.Provider value={ctx}>
      <div className={`canvas-page${selectedService ? " with-panel" : ""}`} data-testid="canvas-page" data-synced={sync.synced ? "true" : "false"}>
        <div className="canvas-head">
          <Link to="/" className="crumb">
            Projects
          </Link>
          <span className="crumb-sep">/</span>
          <h1 className="canvas-title" data-testid="project-title">
            {project.data?.name ?? "…"}
          </h1>
          {stagedName && stagedName !== project.data?.name ? (
            <span className="badge badge-staged" title="Renamed with the next deploy">
              → {stagedName}
            </span>
          ) : null}
          <span className={`conn conn-${sync.status}`} data-testid="connection-status" title={sync.status === "reconnecting" ? `Reconnecting (attempt ${sync.attempt})` : sync.status}>
            <span className="dot" />
            {sync.status === "open" ? "Live" : sync.status === "reconnecting" ? "Reconnecting…" : sync.status === "connecting" ? "Connecting…" : "Offline"}
          </span>
          <div className="grow" />
          <div className="avatars" data-testid="presence">
            {sync.users.map((u) => {
              const id = presenceId(u);
              return (
                <span
                  key={id}
                  className={`avatar small${id === me.data?.id ? " me" : ""}`}
                  style={{ background: userColour(id) }}
                  title={presenceName(u) + (id === me.data?.id ? " (you)" : "")}
                  data-testid="presence-avatar"
                >
                  {initials(presenceName(u))}
                </span>
              );
            })}
          </div>
          <button className="btn btn-sm" onClick={() => setAdding(rf.screenToFlowPosition({ x: window.innerWidth / 2 - 100, y: window.innerHeight / 2 - 40 }))} data-testid="add-service-button">
            + Service
          </button>
          <Link to={`/projects/${projectId}/settings`} className="btn btn-sm" data-testid="project-settings-link">
            Settings
          </Link>
        </div>
        <div
          className="canvas-body"
          onMouseMove={onMouseMove}
          onKeyDown={(e) => {
            // Keyboard users open a focused service node with Enter (Tab moves between nodes).
            const el = e.target as HTMLElement;
            if (e.key !== "Enter" || !el.classList.contains("react-flow__node-service")) return;
            const n = rf.getNode(el.dataset["id"] ?? "");
            if (n) onNodeClick({} as ReactMouseEvent, n);
          }}
        >
          {!sync.synced ? <div className="canvas-loading"><Spinner label="Loading canvas…" /></div> : null}
          <ReactFlow<FlowNode>
            nodes={sync.nodes}
            edges={sync.edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onNodeDragStop={onNodeDragStop}
            onNodeClick={onNodeClick}
            onPaneContextMenu={(e) => openMenu(e)}
            onNodeContextMenu={(e, n) => openMenu(e, n.id)}
            onPaneClick={() => setMenu(null)}
            onConnect={onConnect}
            onBeforeDelete={async ({ nodes: ns, edges: es }) => {
              // Deletes go through the server (a deployed service is only staged for deletion);
              // the canvas changes when the server says so.
              es.filter((e) => e.deletable !== false).forEach((e) => send("edge:delete", { id: e.id }));
              for (const n of ns) await deleteNode(n.id);
              return false;
            }}
            deleteKeyCode={["Delete", "Backspace"]}
            onlyRenderVisibleElements
            minZoom={0.1}
            maxZoom={2}
            fitView={false}
            defaultViewport={{ x: 40, y: 40, zoom: 0.9 }}
            proOptions={{ hideAttribution: true }}
            colorMode="dark"
          >
            <Background variant={BackgroundVariant.Dots} gap={22} size={1.2} color="#2c3140" />
            <Controls showInteractive={false} position="bottom-left" />
            <ViewportPortal>
              {draftList.map((d) => (
                <div
                  key={d.draft_id}
                  className="draft-ghost"
                  style={{ transform: `translate(${d.x ?? 0}px, ${d.y ?? 0}px)`, borderColor: userColour(d.user_id ?? "") }}
                  data-testid="draft-ghost"
                >
                  <strong>{d.name || "New service"}</strong>
                  <span>{d.user_name ?? "Someone"} is adding a service…</span>
                </div>
              ))}
              {cursorList.map((c) => (
                <div key={c.user_id} className="remote-cursor" style={{ transform: `translate(${c.x}px, ${c.y}px)` }} data-testid="remote-cursor" data-user={c.user_name}>
                  <svg width="18" height="18" viewBox="0 0 18 18" aria-hidden>
                    <path d="M1 1 L1 15 L5 11 L8 17 L10 16 L7 10 L13 10 Z" fill={userColour(c.user_id)} stroke="#0b0d12" strokeWidth="1" />
                  </svg>
                  <span className="cursor-name" style={{ background: userColour(c.user_id) }}>
                    {c.user_name}
                  </span>
                </div>
              ))}
            </ViewportPortal>
          </ReactFlow>
          {sync.synced && sync.nodes.length === 0 && draftList.length === 0 ? (
            <div className="canvas-empty" data-testid="canvas-empty">
              <h2>An empty canvas</h2>
              <p className="muted">Right-click anywhere to add a service, a note or a group.</p>
              <button className="btn btn-primary" onClick={() => setAdding({ x: 80, y: 80 })}>
                Add a service
              </button>
            </div>
          ) : null}
          {menu ? (
            <ContextMenu
              menu={menu}
              node={menu.nodeId ? rf.getNode(menu.nodeId) : undefined}
              hasPresets={(presets.data?.length ?? 0) > 0}
              onClose={() => setMenu(null)}
              onAddService={() => setAdding(menu.flow)}
              onAddNote={() => addNote(menu.flow)}
              onAddGroup={() => addGroup(menu.flow)}
              onOpen={(n) => onNodeClick({} as ReactMouseEvent, n)}
              onGroupVariables={(n) => setGroupVars({ id: n.id, name: labelOf(n.data.node) || "Group" })}
              onDelete={(id) => void deleteNode(id)}
            />
          ) : null}
          <PendingBar projectId={projectId} changes={pending.data ?? []} nodes={sync.nodes} />
        </div>
        {selectedNodeService ? (
          <ServicePanel
            projectId={projectId}
            serviceKey={selectedNodeService}
            service={serviceMap.get(selectedNodeService)}
            servicesLoaded={services.isSuccess}
            pending={pending.data ?? []}
            node={sync.nodes.find((n) => n.type === "service" && (serviceKeyOf(n.data.node) ?? n.id) === selectedNodeService)}
            onClose={() =>
              setParams((p) => {
                p.delete("service");
                return p;
              })
            }
          />
        ) : null}
        {groupVars ? (
          <GroupVariablesDialog
            projectId={projectId}
            groupId={groupVars.id}
            groupName={groupVars.name}
            pending={pending.data ?? []}
            onClose={() => setGroupVars(null)}
          />
        ) : null}
        {adding ? (
          <AddServiceDialog
            projectId={projectId}
            at={adding}
            send={send}
            onClose={() => setAdding(null)}
            onCreated={(ids) => {
              placement.current = { ids, x: adding.x, y: adding.y };
              placeNew();
            }}
          />
        ) : null}
      </div>
    </CanvasContext.Provider>
  );
}

function ContextMenu({
  menu,
  node,
  hasPresets,
  onClose,
  onAddService,
  onAddNote,
  onAddGroup,
  onOpen,
  onGroupVariables,
  onDelete,
}: {
  menu: MenuState;
  node: FlowNode | undefined;
  hasPresets: boolean;
  onClose: () => void;
  onAddService: () => void;
  onAddNote: () => void;
  onAddGroup: () => void;
  onOpen: (n: FlowNode) => void;
  onGroupVariables: (n: FlowNode) => void;
  onDelete: (id: string) => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLButtonElement>("button")?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    const onDown = (e: MouseEvent) => !ref.current?.contains(e.target as Node) && onClose();
    window.addEventListener("keydown", onKey);
    window.addEventListener("mousedown", onDown);
    return () => {
      window.removeEventListener("keydown", onKey);
      window.removeEventListener("mousedown", onDown);
    };
  }, [onClose]);
  const item = (label: string, testId: string, fn: () => void, danger = false) => (
    <button
      role="menuitem"
      className={danger ? "danger" : ""}
      data-testid={testId}
      onClick={() => {
        fn();
        onClose();
      }}
    >
      {label}
    </button>
  );
  const onKeyDown = (e: React.KeyboardEvent) => {
    const items = [...(ref.current?.querySelectorAll<HTMLButtonElement>("button") ?? [])];
    const i = items.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === "ArrowDown") items[(i + 1) % items.length]?.focus();
    if (e.key === "ArrowUp") items[(i - 1 + items.length) % items.length]?.focus();
  };
  const x = Math.min(menu.x, window.innerWidth - 220);
  const y = Math.min(menu.y, window.innerHeight - 200);
  return (
    <div className="menu context-menu" role="menu" ref={ref} style={{ left: x, top: y }} data-testid="context-menu" onKeyDown={onKeyDown}>
      {node ? (
        <>
          {node.type === "service" ? item("Open", "ctx-open", () => onOpen(node)) : null}
          {node.type === "group" ? item("Group variables…", "ctx-group-variables", () => onGroupVariables(node)) : null}
          {item(
            node.type === "service" ? "Delete service" : kindOfNode(node.data.node) === "group" ? "Delete group" : "Delete note",
            "ctx-delete",
            () => onDelete(node.id),
            true,
          )}
        </>
      ) : (
        <>
          {item("Add service", "ctx-add-service", onAddService)}
          {hasPresets ? item("Add database", "ctx-add-database", onAddService) : null}
          {item("Add note", "ctx-add-note", onAddNote)}
          {item("Add group", "ctx-add-group", onAddGroup)}
        </>
      )}
    </div>
  );
}
