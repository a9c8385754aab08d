import type { Node } from "@xyflow/react";
import type { CanvasNode, Draft, Presence } from "../api/types";

export type Kind = "service" | "group" | "note";
export interface NodeData extends Record<string, unknown> {
  node: CanvasNode;
}
export type FlowNode = Node<NodeData, Kind>;

export function kindOfNode(n: CanvasNode): Kind {
  const t = String(n.type ?? n.node_type ?? (n.service_id ? "service" : "note")).toLowerCase();
  if (t === "group") return "group";
  if (t === "note" || t === "label" || t === "text") return "note";
  return "service";
}

export function parentOf(n: CanvasNode): string | undefined {
  return n.parent_id ?? n.group_id ?? (n.data?.["parent_id"] as string | undefined) ?? undefined;
}

/** The id the pending changes use for this service node: the real service id or the staged temp id. */
export function serviceKeyOf(n: CanvasNode): string | undefined {
  const d = n.data ?? {};
  return (
    n.service_id ??
    (d["service_id"] as string | undefined) ??
    (d["temp_id"] as string | undefined) ??
    (d["target_temp_id"] as string | undefined) ??
    // A service node's id is the service's id (or its temp id while staged).
    (kindOfNode(n) === "service" ? n.id : undefined)
  );
}

export function labelOf(n: CanvasNode): string {
  const d = n.data ?? {};
  return String(d["name"] ?? d["label"] ?? n.label ?? d["title"] ?? "");
}

export function noteText(n: CanvasNode): string {
  const d = n.data ?? {};
  return String(d["text"] ?? n.text ?? d["label"] ?? n.label ?? "");
}

export function toFlowNode(n: CanvasNode, prev?: FlowNode): FlowNode {
  const type = kindOfNode(n);
  const parentId = parentOf(n);
  const base: FlowNode = {
    id: n.id,
    type,
    position: { x: n.position_x, y: n.position_y },
    data: { node: n },
    selected: prev?.selected ?? false,
    ...(parentId ? { parentId } : {}),
  };
  if (type === "group") {
    base.style = { width: n.width ?? 420, height: n.height ?? 280 };
    base.zIndex = -1;
    base.dragHandle = ".group-handle";
  }
  return base;
}

/** React Flow needs parents before their children. */
export function sortForFlow(nodes: FlowNode[]): FlowNode[] {
  const groups = nodes.filter((n) => n.type === "group");
  const rest = nodes.filter((n) => n.type !== "group");
  return [...groups, ...rest];
}

export function presenceId(u: Presence | Record<string, unknown>): string {
  const r = u as Record<string, unknown>;
  return String(r["user_id"] ?? r["id"] ?? "");
}
export function presenceName(u: Presence | Record<string, unknown>): string {
  const r = u as Record<string, unknown>;
  return String(r["user_name"] ?? r["name"] ?? r["email"] ?? "someone");
}

export interface Cursor {
  user_id: string;
  user_name: string;
  x: number;
  y: number;
}

export type DraftView = Draft & { draft_id: string };
