import { useCallback, useEffect, useRef, type Dispatch, type SetStateAction } from "react";
import { useReactFlow, type Connection } from "@xyflow/react";
import { useApi } from "../app";
import { useQueryClient } from "@tanstack/react-query";
import type { CanvasEdge, EnvEditResult, EnvVarList, Service } from "../api/types";
import { cacheEnvEdit, referenceVar } from "../service/envEdit";
import { errorText } from "../ui/controls";
import { useToast } from "../ui/toast";
import { labelOf, serviceKeyOf, type FlowNode } from "./model";
import type { Send } from "./socket";

type Point = { x: number; y: number };
type Origin = { parent_id: string | null; x: number; y: number };

/**
 * Edits of the canvas's nodes and edges, each sent to the server (which answers every client,
 * this one included): node patches, regrouping on drop, notes, groups, edges, deletes, and placing
 * a service created through the API where the user asked for it.
 */
export function useNodeActions({
  projectId,
  send,
  nodes,
  setNodes,
  flushMoves,
  services,
  deleteService,
}: {
  projectId: string;
  send: Send;
  nodes: FlowNode[];
  setNodes: Dispatch<SetStateAction<FlowNode[]>>;
  flushMoves: () => void;
  services: Map<string, Service>;
  /** Stage a deployed service's delete (asking first when other services refer to it). */
  deleteService: (id: string, name: string) => void;
}) {
  const rf = useReactFlow<FlowNode>();
  const toast = useToast();
  const api = useApi();
  const qc = useQueryClient();

  /** Patch a node's fields and its `data`; shown at once, sent as a whole. */
  const upsertNode = useCallback(
    (id: string, patch: Partial<FlowNode["data"]["node"]>, dataPatch?: Record<string, unknown>) => {
      const n = rf.getNode(id);
      if (!n) return;
      const raw = n.data.node;
      const next = { ...raw, ...patch, data: { ...raw.data, ...(dataPatch ?? {}) } };
      setNodes((prev) => prev.map((x) => (x.id === id ? { ...x, data: { node: next } } : x)));
      send("node:upsert", next);
    },
    [rf, send, setNodes],
  );

  /** Where each dragged node was when the drag began (its group, its position there). */
  const dragOrigins = useRef(new Map<string, Origin>());
  const onNodeDragStart = useCallback((_: unknown, _node: FlowNode, dragged: FlowNode[]) => {
    dragOrigins.current = new Map(dragged.map((n) => [n.id, { parent_id: n.parentId ?? null, x: n.position.x, y: n.position.y }]));
  }, []);

  /**
   * The group a node dropped at its current place belongs to (the one under its centre, if any),
   * and its position there; null when it stays where it was. Groups do not nest.
   */
  const regrouped = useCallback(
    (node: FlowNode): { parent?: string; position: Point } | null => {
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
      if (group?.id === node.parentId) return null;
      if (!group) return { position: abs };
      const gp = rf.getInternalNode(group.id)?.internals.positionAbsolute ?? group.position;
      return { parent: group.id, position: { x: abs.x - gp.x, y: abs.y - gp.y } };
    },
    [rf],
  );

  /**
   * Every node dropped over a group joins it; dropped outside every group, it leaves its group
   * (each of a dragged selection by where it lands; a member dragged with its group stays in it).
   * A deployed service's change of group is staged, with where the node was, so that discarding
   * the move puts it back there.
   */
  const onNodeDragStop = useCallback(
    (_: unknown, node: FlowNode, dragged: FlowNode[]) => {
      const origins = dragOrigins.current;
      dragOrigins.current = new Map();
      flushMoves();
      const draggedIds = new Set(dragged.map((n) => n.id));
      const moves = new Map<string, FlowNode>();
      for (const n of dragged.length ? dragged : [node]) {
        if (n.type === "group" || (n.parentId && draggedIds.has(n.parentId))) continue;
        const to = regrouped(n);
        if (!to) continue;
        const raw = n.data.node;
        const next = {
          ...raw,
          parent_id: to.parent ?? null,
          position_x: Math.round(to.position.x),
          position_y: Math.round(to.position.y),
        };
        const updated: FlowNode = { ...n, position: to.position, data: { node: next }, ...(to.parent ? { parentId: to.parent } : {}) };
        if (!to.parent) delete updated.parentId;
        moves.set(n.id, updated);
        const origin = origins.get(n.id);
        send("node:upsert", origin ? { ...next, origin } : next);
      }
      if (!moves.size) return;
      // A member after its group: React Flow wants a parent before its children.
      setNodes((prev) => [...prev.filter((n) => !moves.has(n.id)), ...moves.values()]);
    },
    [send, setNodes, flushMoves, regrouped],
  );

  const addNote = (at: Point) => {
    const id = crypto.randomUUID();
    send("node:upsert", { id, type: "note", position_x: Math.round(at.x), position_y: Math.round(at.y), width: 200, height: 100, data: { text: "" } });
  };
  const addGroup = (at: Point) => {
    const id = crypto.randomUUID();
    send("node:upsert", { id, type: "group", position_x: Math.round(at.x), position_y: Math.round(at.y), width: 460, height: 300, data: { name: "Group" } });
  };
  const deleteNode = async (id: string) => {
    const n = rf.getNode(id);
    if (!n) return;
    if (n.type === "service") {
      const key = serviceKeyOf(n.data.node);
      const service = key ? services.get(key) : undefined;
      if (key && service) {
        deleteService(key, service.name);
        return;
      }
      // A staged service: the hub discards its creation along with the node.
      if (send("node:delete", { id })) toast.success("Staged service discarded.");
      else toast.error("The canvas is offline; try again once it reconnects.");
      return;
    }
    // A note or a group goes at once, with Undo: the node comes back as it was, a group with its
    // members back inside and its variables staged again (deleting a group removed them).
    const raw = n.data.node;
    const members = rf.getNodes().filter((x) => x.parentId === id).map((x) => x.data.node);
    let vars: Record<string, string> = {};
    if (n.type === "group") {
      try {
        const list = await api.get<EnvVarList>(`/projects/${projectId}/groups/${id}/env-vars?limit=100`);
        vars = Object.fromEntries(list.data.map((v) => [v.key, v.value]));
      } catch {
        vars = {};
      }
    }
    if (!send("node:delete", { id })) {
      toast.error("The canvas is offline; try again once it reconnects.");
      return;
    }
    toast.success(`${n.type === "group" ? "Group" : n.type === "note" ? "Note" : "Label"} deleted.`, {
      label: "Undo",
      run: () => {
        send("node:upsert", raw);
        for (const m of members) send("node:upsert", m);
        if (Object.keys(vars).length) {
          // The group is back once the server has the node again: retry briefly until it does.
          const restage = async (tries: number): Promise<void> => {
            try {
              await api.post(`/projects/${projectId}/groups/${id}/env-vars/edit`, { values: vars });
            } catch {
              if (tries <= 0) return toast.error("The group's variables could not be staged again.");
              await new Promise((r) => window.setTimeout(r, 300));
              return restage(tries - 1);
            }
          };
          void restage(10);
        }
      },
    });
  };
  /** Connecting service A to service B stages a reference on A (`B_URL=http://${{B.HOST}}:${{B.PORT}}`);
   * the edge appears (managed) once it is deployed. Other connections are plain drawn edges. */
  const onConnect = async (c: Connection) => {
    if (!c.source || !c.target) return;
    const from = rf.getNode(c.source);
    const to = rf.getNode(c.target);
    const fromKey = from?.type === "service" ? serviceKeyOf(from.data.node) : undefined;
    const toKey = to?.type === "service" ? serviceKeyOf(to.data.node) : undefined;
    if (!fromKey || !toKey || fromKey === toKey || !to) {
      send("edge:upsert", { id: crypto.randomUUID(), source: c.source, target: c.target });
      return;
    }
    const target = services.get(toKey);
    const name = target?.name ?? labelOf(to.data.node);
    const port = target ? target.port : (to.data.node.data["port"] as number | null | undefined);
    const ref = referenceVar(name, port);
    try {
      const r = await api.post<EnvEditResult>(`/projects/${projectId}/services/${fromKey}/env-vars/edit`, { values: { [ref.key]: ref.value } });
      cacheEnvEdit(qc, projectId, r);
      toast.success(`${ref.key} staged on ${labelOf(from!.data.node) || "the service"}: it reaches ${name}. Deploy to apply.`);
    } catch (err) {
      toast.error(errorText(err));
    }
  };

  /** Deleting a reference edge stages the removal of the variables behind it. */
  const deleteReference = async (edge: CanvasEdge) => {
    const keys = Array.isArray(edge.data["keys"]) ? (edge.data["keys"] as string[]) : [];
    if (!keys.length) return;
    try {
      const r = await api.post<EnvEditResult>(`/projects/${projectId}/services/${edge.source}/env-vars/edit`, { unset: keys });
      cacheEnvEdit(qc, projectId, r);
      toast.success(`Removing ${keys.join(", ")} is staged. Deploy to apply.`);
    } catch (err) {
      toast.error(errorText(err));
    }
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
  useEffect(placeNew, [nodes, placeNew]);
  const placeCreated = (ids: string[], at: Point) => {
    placement.current = { ids, x: at.x, y: at.y };
    placeNew();
  };

  return { upsertNode, onNodeDragStart, onNodeDragStop, addNote, addGroup, deleteNode, onConnect, deleteReference, placeCreated };
}
