import type { Node } from "@xyflow/react";
import type { CanvasNode, Draft, Presence } from "../api/types";
import { sizeOf } from "./layout";

export type Kind = "service" | "group" | "note";
export interface NodeData extends Record<string, unknown> {
  node: CanvasNode;
}
export type FlowNode = Node<NodeData, Kind>;

export function kindOfNode(n: CanvasNode): Kind {
  // A label is drawn as a note.
  return n.type === "label" ? "note" : n.type;
}

export function parentOf(n: CanvasNode): string | undefined {
  return n.parent_id ?? undefined;
}

/** The id the pending changes use for this service node: a service node's id is the service's id
 * (or its temp id while staged). */
export function serviceKeyOf(n: CanvasNode): string | undefined {
  return n.type === "service" ? n.id : undefined;
}

export function labelOf(n: CanvasNode): string {
  return String(n.data["name"] ?? n.data["label"] ?? "");
}

export function noteText(n: CanvasNode): string {
  return String(n.data["text"] ?? n.data["label"] ?? "");
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
    // Sizes before measuring: React Flow culls and fits unmeasured (off-screen) nodes by these.
    initialWidth: sizeOf(n).width,
    initialHeight: sizeOf(n).height,
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

export function presenceId(u: Presence): string {
  return u.user_id;
}
export function presenceName(u: Pick<Presence, "user_name">): string {
  return u.user_name || "someone";
}

export interface Cursor {
  user_id: string;
  user_name: string;
  x: number;
  y: number;
}

export type DraftView = Draft;
