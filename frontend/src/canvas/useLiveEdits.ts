import { useCallback, useEffect, useRef, type MouseEvent as ReactMouseEvent } from "react";
import { useReactFlow, type NodeChange } from "@xyflow/react";
import type { ClientPayload } from "../api/types";
import type { FlowNode } from "./model";
import type { Send } from "./socket";

type Position = ClientPayload<"node:move">["positions"][number];

/**
 * What the others see while you work: node drags streamed at most every 33 ms (the final position
 * always sent) and your cursor, in canvas coordinates, at most every 50 ms (the last one kept).
 */
export function useLiveEdits(send: Send, applyNodeChanges: (changes: NodeChange<FlowNode>[]) => void) {
  const rf = useReactFlow<FlowNode>();
  const moveQueue = useRef(new Map<string, Position>());
  const moveTimer = useRef<number | null>(null);
  const flushMoves = useCallback(() => {
    moveTimer.current = null;
    if (moveQueue.current.size === 0) return;
    send("node:move", { positions: [...moveQueue.current.values()] });
    moveQueue.current.clear();
  }, [send]);
  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      applyNodeChanges(changes);
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
    [applyNodeChanges, flushMoves],
  );

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

  return { onNodesChange, flushMoves, onMouseMove };
}
