import { describe, expect, it } from "vitest";
import type { CanvasNode } from "../api/types";
import { boundsOf, fitViewport, freeSpot, nodeRects } from "./layout";

const node = (id: string, type: CanvasNode["type"], x: number, y: number, extra: Partial<CanvasNode> = {}): CanvasNode =>
  ({ id, type, position_x: x, position_y: y, width: null, height: null, parent_id: null, data: {}, ...extra }) as CanvasNode;

describe("nodeRects", () => {
  it("places a group's children relative to it and sizes each kind", () => {
    const rects = nodeRects([node("g", "group", 100, 100, { width: 500, height: 300 }), node("s", "service", 20, 40, { parent_id: "g" })]);
    expect(rects).toEqual([
      { x: 100, y: 100, width: 500, height: 300 },
      { x: 120, y: 140, width: 230, height: 110 },
    ]);
  });
});

describe("freeSpot", () => {
  const size = { width: 230, height: 110 };
  it("keeps the asked spot when it is free", () => {
    expect(freeSpot({ x: 0, y: 0 }, size, [{ x: 400, y: 0, width: 230, height: 110 }])).toEqual({ x: 0, y: 0 });
  });
  it("never overlaps what is there, however many are added at one spot", () => {
    const taken: { x: number; y: number; width: number; height: number }[] = [{ x: -50, y: -50, width: 600, height: 400 }];
    for (let i = 0; i < 30; i++) {
      const p = freeSpot({ x: 10, y: 10 }, size, taken);
      for (const r of taken) {
        const apart = p.x >= r.x + r.width || r.x >= p.x + size.width || p.y >= r.y + r.height || r.y >= p.y + size.height;
        expect(apart).toBe(true);
      }
      taken.push({ ...p, ...size });
    }
  });
});

describe("fitViewport", () => {
  it("centres content that fits, never zooming in past 1", () => {
    expect(fitViewport({ x: 0, y: 0, width: 200, height: 100 }, 1000, 500)).toEqual({ x: 400, y: 200, zoom: 1 });
  });
  it("zooms out to show everything on a phone", () => {
    const b = boundsOf([{ x: 0, y: 0, width: 230, height: 110 }, { x: 600, y: 500, width: 230, height: 110 }])!;
    const v = fitViewport(b, 390, 700);
    expect(b.x * v.zoom + v.x).toBeGreaterThanOrEqual(0);
    expect((b.x + b.width) * v.zoom + v.x).toBeLessThanOrEqual(390);
    expect((b.y + b.height) * v.zoom + v.y).toBeLessThanOrEqual(700);
  });
  it("shows the top left at the least zoom when everything cannot fit", () => {
    expect(fitViewport({ x: 100, y: 100, width: 20000, height: 20000 }, 1000, 600, { minZoom: 0.5 })).toEqual({ x: -18, y: -18, zoom: 0.5 });
  });
});
