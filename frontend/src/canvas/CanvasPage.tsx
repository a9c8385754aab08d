import { useCallback, useEffect, useMemo, useRef, useState, type MouseEvent as ReactMouseEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { Background, BackgroundVariant, Controls, ReactFlow, ReactFlowProvider, useReactFlow, type Connection, type Edge } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import type { CanvasEdge } from "../api/types";
import { useMe } from "../app";
import { ConfirmDialog, Spinner, errorText } from "../ui/controls";
import { useServiceActions } from "../service/actions";
import { usePendingDiff } from "../lib/stagedDiff";
import { referrersOf } from "../lib/references";
import { ServicePanel } from "../service/ServicePanel";
import { CanvasContext, nodeTypes, type CanvasContextValue } from "./nodes";
import { labelOf, serviceKeyOf, type FlowNode } from "./model";
import { usePublicPorts } from "../lib/serviceUrl";
import { NEW_GROUP_SIZE, NODE_SIZE, boundsOf, fitViewport, freeSpot, nodeRects } from "./layout";
import { useCanvasSync } from "./useCanvasSync";
import { useProjectData } from "./useProjectData";
import { useLiveEdits } from "./useLiveEdits";
import { useNodeActions } from "./useNodeActions";
import { CanvasHeader } from "./CanvasHeader";
import { RemoteActivity } from "./RemoteActivity";
import { ContextMenu, type MenuState } from "./ContextMenu";
import { PendingBar } from "./PendingBar";
import { AddServiceDialog } from "./AddServiceDialog";
import { GroupVariablesDialog } from "./GroupVariablesDialog";
import { ImportComposeDialog } from "./ImportComposeDialog";

/** "Fit view" shows every node, also those never drawn yet (culled off screen, so unmeasured). */
const FIT_ALL = { includeHiddenNodes: true, padding: 0.05 } as const;
const DELETE_KEYS = ["Delete", "Backspace"];
const DEFAULT_VIEWPORT = { x: 40, y: 40, zoom: 0.9 };
const PRO_OPTIONS = { hideAttribution: true };

export function CanvasPage() {
  const { projectId = "" } = useParams();
  return (
    <ReactFlowProvider>
      <Canvas projectId={projectId} key={projectId} />
    </ReactFlowProvider>
  );
}

/** One project's canvas: the live nodes (useCanvasSync), what you do to them (useLiveEdits,
 * useNodeActions), and the panels and dialogs around them. */
function Canvas({ projectId }: { projectId: string }) {
  const me = useMe();
  const rf = useReactFlow<FlowNode>();
  const [params, setParams] = useSearchParams();
  const selectedService = params.get("service");
  const { project, services, pending, presets, serviceMap, staged, stagedName } = useProjectData(projectId);
  const sync = useCanvasSync(projectId, me.data?.id);
  const { send, setNodes } = sync;
  const live = useLiveEdits(send, sync.onNodesChange);
  const { stageDelete } = useServiceActions(projectId);
  const diff = usePendingDiff(projectId, pending.data);
  // Deleting a service others refer to asks first, naming them; otherwise it is staged at once (with Undo).
  const [deleting, setDeleting] = useState<{ id: string; name: string; referrers: string[]; then?: () => void } | null>(null);
  const edgesRef = useRef(sync.edges);
  edgesRef.current = sync.edges;
  const diffRef = useRef(diff.data);
  diffRef.current = diff.data;
  const deleteService = useCallback(
    (id: string, name: string, then?: () => void) => {
      const nameOf = (nodeId: string) => {
        const n = rf.getNode(nodeId);
        if (!n || n.type !== "service") return undefined;
        const key = serviceKeyOf(n.data.node) ?? n.id;
        return serviceMap.get(key)?.name ?? (labelOf(n.data.node) || undefined);
      };
      const referrers = referrersOf({ id, name }, edgesRef.current, nameOf, diffRef.current);
      if (referrers.length > 0) return setDeleting({ id, name, referrers, then });
      void stageDelete(id, name).then(() => then?.());
    },
    [rf, serviceMap, stageDelete],
  );
  const edit = useNodeActions({ projectId, send, nodes: sync.nodes, setNodes, flushMoves: live.flushMoves, services: serviceMap, deleteService });
  const [menu, setMenu] = useState<MenuState | null>(null);
  const [adding, setAdding] = useState<{ x: number; y: number } | null>(null);
  const [importing, setImporting] = useState(false);
  const [groupVars, setGroupVars] = useState<{ id: string; name: string } | null>(null);
  const { upsertNode } = edit;
  const ports = usePublicPorts();
  const body = useRef<HTMLDivElement>(null);

  /** A new node goes where it was asked for, or the nearest spot where it hides nothing. */
  const free = useCallback(
    (at: { x: number; y: number }, kind: keyof typeof NODE_SIZE) => freeSpot(at, kind === "group" ? NEW_GROUP_SIZE : NODE_SIZE[kind], nodeRects(rf.getNodes().map((n) => n.data.node))),
    [rf],
  );

  // Once the canvas is first synced, show every node (on a phone too) rather than a fixed corner.
  const fitted = useRef(false);
  useEffect(() => {
    if (!sync.synced || fitted.current || !body.current) return;
    fitted.current = true;
    const bounds = boundsOf(nodeRects(sync.nodes.map((n) => n.data.node)));
    const { clientWidth: w, clientHeight: h } = body.current;
    // A phone's pane is small: zoom out further there before giving up on showing everything.
    if (bounds) void rf.setViewport(fitViewport(bounds, w, h, { minZoom: w < 600 ? 0.2 : 0.35 }));
  }, [sync.synced, sync.nodes, rf]);

  const ctx = useMemo<CanvasContextValue>(
    () => ({
      services: serviceMap,
      staged,
      ports,
      onResize: (id, width, height) => upsertNode(id, { width: Math.round(width), height: Math.round(height) }),
      onNoteEdit: (id, text) => upsertNode(id, {}, { text }),
      onGroupRename: (id, name) => upsertNode(id, {}, { name, label: name }),
    }),
    [serviceMap, staged, ports, upsertNode],
  );

  // Stable handlers: React Flow copies each prop into its store, and a new function on every
  // render (every drag frame re-renders this component) would make it do so each frame.
  const openMenu = useCallback(
    (e: ReactMouseEvent | MouseEvent, nodeId?: string) => {
      e.preventDefault();
      setMenu({ x: e.clientX, y: e.clientY, flow: rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }), ...(nodeId ? { nodeId } : {}) });
    },
    [rf],
  );
  const onPaneContextMenu = useCallback((e: ReactMouseEvent | MouseEvent) => openMenu(e), [openMenu]);
  const onNodeContextMenu = useCallback((e: ReactMouseEvent, n: FlowNode) => openMenu(e, n.id), [openMenu]);
  const onPaneClick = useCallback(() => setMenu(null), []);

  const onNodeClick = useCallback(
    (_: ReactMouseEvent, node: FlowNode) => {
      if (node.type !== "service") return;
      const key = serviceKeyOf(node.data.node) ?? node.id;
      setParams((p) => {
        p.set("service", key);
        return p;
      });
    },
    [setParams],
  );
  const deleteNodeRef = useRef(edit.deleteNode);
  deleteNodeRef.current = edit.deleteNode;
  const deleteReferenceRef = useRef(edit.deleteReference);
  deleteReferenceRef.current = edit.deleteReference;
  const onBeforeDelete = useCallback(
    async ({ nodes: ns, edges: es }: { nodes: FlowNode[]; edges: Edge[] }) => {
      // Deletes go through the server (a deployed service is only staged for deletion);
      // the canvas changes when the server says so.
      // Edges of a deleted node come along in `es`: only the ones chosen themselves count. A
      // reference (managed) edge's delete stages the removal of the variables behind it.
      for (const e of es.filter((x) => x.selected)) {
        const raw = (e.data as { raw?: CanvasEdge } | undefined)?.raw;
        if (raw?.managed) void deleteReferenceRef.current(raw);
        else send("edge:delete", { id: e.id });
      }
      for (const n of ns) await deleteNodeRef.current(n.id);
      return false;
    },
    [send],
  );
  const onConnectRef = useRef(edit.onConnect);
  onConnectRef.current = edit.onConnect;
  const onConnect = useCallback((c: Connection) => onConnectRef.current(c), []);

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

  if (project.error) {
    return (
      <div className="page">
        <div className="form-error">{errorText(project.error)}</div>
        <Link to="/">Back to projects</Link>
      </div>
    );
  }

  const draftList = Object.values(sync.drafts);

  return (
    <CanvasContext.Provider value={ctx}>
      <div className={`canvas-page${selectedService ? " with-panel" : ""}`} data-testid="canvas-page" data-synced={sync.synced ? "true" : "false"}>
        <CanvasHeader
          projectId={projectId}
          projectName={project.data?.name}
          stagedName={stagedName}
          status={sync.status}
          attempt={sync.attempt}
          users={sync.users}
          myId={me.data?.id}
          onAddService={() => setAdding(free(rf.screenToFlowPosition({ x: window.innerWidth / 2 - 115, y: window.innerHeight / 2 - 55 }), "service"))}
          onImportCompose={() => setImporting(true)}
        />
        <div
          className="canvas-body"
          ref={body}
          onMouseMove={live.onMouseMove}
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
            onNodesChange={live.onNodesChange}
            onEdgesChange={sync.onEdgesChange}
            onNodeDragStart={edit.onNodeDragStart}
            onNodeDragStop={edit.onNodeDragStop}
            onNodeClick={onNodeClick}
            onPaneContextMenu={onPaneContextMenu}
            onNodeContextMenu={onNodeContextMenu}
            onPaneClick={onPaneClick}
            onConnect={onConnect}
            onBeforeDelete={onBeforeDelete}
            deleteKeyCode={DELETE_KEYS}
            onlyRenderVisibleElements
            minZoom={0.1}
            maxZoom={2}
            fitView={false}
            defaultViewport={DEFAULT_VIEWPORT}
            proOptions={PRO_OPTIONS}
            colorMode="dark"
          >
            <Background variant={BackgroundVariant.Dots} gap={22} size={1.2} color="#2c3140" />
            <Controls showInteractive={false} position="bottom-left" fitViewOptions={FIT_ALL} />
            <RemoteActivity drafts={draftList} cursors={Object.values(sync.cursors)} />
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
              onAddService={() => setAdding(free(menu.flow, "service"))}
              onAddNote={() => edit.addNote(free(menu.flow, "note"))}
              onAddGroup={() => edit.addGroup(free(menu.flow, "group"))}
              onOpen={(n) => onNodeClick({} as ReactMouseEvent, n)}
              onGroupVariables={(n) => setGroupVars({ id: n.id, name: labelOf(n.data.node) || "Group" })}
              onDelete={(id) => void edit.deleteNode(id)}
            />
          ) : null}
          <PendingBar projectId={projectId} changes={pending.data ?? []} nodes={sync.nodes} />
        </div>
        {selectedService ? (
          <ServicePanel
            projectId={projectId}
            serviceKey={selectedService}
            service={serviceMap.get(selectedService)}
            servicesLoaded={services.isSuccess}
            pending={pending.data ?? []}
            node={sync.nodes.find((n) => n.type === "service" && (serviceKeyOf(n.data.node) ?? n.id) === selectedService)}
            onDelete={deleteService}
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
        {deleting ? (
          <ConfirmDialog
            title={`Delete “${deleting.name}”?`}
            danger
            confirmLabel="Stage delete"
            body={
              <div data-testid="delete-referrers">
                <p>
                  {deleting.referrers.length === 1 ? "This service refers" : "These services refer"} to {deleting.name} (through <code>{`\${{${deleting.name}.…}}`}</code> variables or an edge). Once it is
                  deleted, those references no longer resolve:
                </p>
                <ul>
                  {deleting.referrers.map((r) => (
                    <li key={r} data-testid="delete-referrer">
                      {r}
                    </li>
                  ))}
                </ul>
                <p className="muted small">The delete is staged, with Undo; nothing changes until Deploy.</p>
              </div>
            }
            onClose={() => setDeleting(null)}
            onConfirm={() => {
              const { id, name, then } = deleting;
              setDeleting(null);
              void stageDelete(id, name).then(() => then?.());
            }}
          />
        ) : null}
        {importing ? <ImportComposeDialog projectId={projectId} onClose={() => setImporting(false)} /> : null}
        {adding ? (
          <AddServiceDialog
            projectId={projectId}
            at={adding}
            send={send}
            onClose={() => setAdding(null)}
            onCreated={(ids) => edit.placeCreated(ids, adding)}
          />
        ) : null}
      </div>
    </CanvasContext.Provider>
  );
}
