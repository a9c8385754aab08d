import { useCallback, useEffect, useRef, type Dispatch, type SetStateAction } from "react";
import { useReactFlow, type Connection } from "@xyflow/react";
import type { Service } from "../api/types";
import { useServiceActions } from "../service/actions";
import { useToast } from "../ui/toast";
import { serviceKeyOf, type FlowNode } from "./model";
import type { Send } from "./socket";

type Point = { x: number; y: number };

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
}: {
  projectId: string;
  send: Send;
  nodes: FlowNode[];
  setNodes: Dispatch<SetStateAction<FlowNode[]>>;
  flushMoves: () => void;
  services: Map<string, Service>;
}) {
  const rf = useReactFlow<FlowNode>();
  const toast = useToast();
  const actions = useServiceActions(projectId);

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

  /** A node dropped over a group joins it; dropped outside every group, it leaves its group. */
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
      send("node:upsert", next);
    },
    [rf, send, setNodes, flushMoves],
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
        await actions.stageDelete(key, service.name);
        return;
      }
      // A staged service: the hub discards its creation along with the node.
      if (send("node:delete", { id })) toast.success("Staged service discarded.");
      else toast.error("The canvas is offline; try again once it reconnects.");
      return;
    }
    send("node:delete", { id });
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
  useEffect(placeNew, [nodes, placeNew]);
  const placeCreated = (ids: string[], at: Point) => {
    placement.current = { ids, x: at.x, y: at.y };
    placeNew();
  };

  return { upsertNode, onNodeDragStop, addNote, addGroup, deleteNode, onConnect, placeCreated };
}
