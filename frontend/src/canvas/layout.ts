import type { CanvasNode } from "../api/types";

/** Where things sit on the canvas: the boxes nodes take, a free spot for a new one, and the
 * viewport that shows them all. Pure functions of flow coordinates, so they are tested alone. */

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface Viewport {
  x: number;
  y: number;
  zoom: number;
}

/** The size a node of each kind is drawn at before it is measured (see styles.css). */
export const NODE_SIZE = {
  service: { width: 230, height: 110 },
  note: { width: 200, height: 100 },
  group: { width: 420, height: 280 },
} as const;
/** A new group's size (useNodeActions.addGroup). */
export const NEW_GROUP_SIZE = { width: 460, height: 300 } as const;

export function sizeOf(n: Pick<CanvasNode, "type" | "width" | "height">): { width: number; height: number } {
  if (n.type === "service") return NODE_SIZE.service;
  const d = n.type === "group" ? NODE_SIZE.group : NODE_SIZE.note;
  return { width: n.width ?? d.width, height: n.height ?? d.height };
}

/** Every node's box in flow coordinates (a group's children are placed relative to it). */
export function nodeRects(nodes: CanvasNode[]): Rect[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const abs = (n: CanvasNode, depth = 0): { x: number; y: number } => {
    const parent = n.parent_id ? byId.get(n.parent_id) : undefined;
    if (!parent || depth > 8) return { x: n.position_x, y: n.position_y };
    const p = abs(parent, depth + 1);
    return { x: p.x + n.position_x, y: p.y + n.position_y };
  };
  return nodes.map((n) => ({ ...abs(n), ...sizeOf(n) }));
}

export function boundsOf(rects: Rect[]): Rect | null {
  if (rects.length === 0) return null;
  const x0 = Math.min(...rects.map((r) => r.x));
  const y0 = Math.min(...rects.map((r) => r.y));
  const x1 = Math.max(...rects.map((r) => r.x + r.width));
  const y1 = Math.max(...rects.map((r) => r.y + r.height));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

function overlaps(a: Rect, b: Rect, gap: number): boolean {
  return a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;
}

/**
 * The free spot nearest to `at` (its top-left corner) for a box of `size`, clear of every rect by
 * `gap`: `at` itself when it is free, else the closest cell of a grid searched ring by ring.
 */
export function freeSpot(at: { x: number; y: number }, size: { width: number; height: number }, taken: Rect[], gap = 24): { x: number; y: number } {
  const fits = (x: number, y: number) => !taken.some((r) => overlaps({ x, y, ...size }, r, gap));
  if (fits(at.x, at.y)) return { x: Math.round(at.x), y: Math.round(at.y) };
  const stepX = size.width + gap;
  const stepY = size.height + gap;
  for (let ring = 1; ring < 200; ring++) {
    const cells: { x: number; y: number; d: number }[] = [];
    for (let i = -ring; i <= ring; i++) {
      for (let j = -ring; j <= ring; j++) {
        if (Math.max(Math.abs(i), Math.abs(j)) !== ring) continue;
        const x = at.x + i * stepX;
        const y = at.y + j * stepY;
        cells.push({ x, y, d: Math.hypot(i * stepX, j * stepY) });
      }
    }
    cells.sort((a, b) => a.d - b.d);
    const hit = cells.find((c) => fits(c.x, c.y));
    if (hit) return { x: Math.round(hit.x), y: Math.round(hit.y) };
  }
  return { x: Math.round(at.x), y: Math.round(at.y) };
}

/**
 * The viewport that shows `bounds` in a `width`×`height` pane with `padding` pixels around it,
 * no closer than `maxZoom`; when even `minZoom` cannot show it all, the top-left of the content
 * is shown at `minZoom` (where a project starts, rather than an arbitrary middle).
 */
export function fitViewport(bounds: Rect, width: number, height: number, { padding = 32, minZoom = 0.35, maxZoom = 1 } = {}): Viewport {
  const availW = Math.max(1, width - 2 * padding);
  const availH = Math.max(1, height - 2 * padding);
  const zoom = Math.min(maxZoom, Math.max(minZoom, Math.min(availW / Math.max(1, bounds.width), availH / Math.max(1, bounds.height))));
  const w = bounds.width * zoom;
  const h = bounds.height * zoom;
  const x = w <= availW ? (width - w) / 2 - bounds.x * zoom : padding - bounds.x * zoom;
  const y = h <= availH ? (height - h) / 2 - bounds.y * zoom : padding - bounds.y * zoom;
  return { x, y, zoom };
}
