import { useEffect, useRef } from "react";
import { kindOfNode, type FlowNode } from "./model";

export interface MenuState {
  x: number;
  y: number;
  /** Where the menu was opened, in canvas coordinates: where an added node goes. */
  flow: { x: number; y: number };
  nodeId?: string;
}

/** The right-click menu: add a service, database, note or group on the pane; open or delete a node. */
export function ContextMenu({
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
