import { createContext, memo, useContext, useState } from "react";
import { Handle, NodeResizer, Position, type NodeProps } from "@xyflow/react";
import type { Service } from "../api/types";
import type { StagedNodeState } from "../lib/stagedDiff";
import { serviceUrl, type PublicPorts } from "../lib/serviceUrl";
import { labelOf, noteText, serviceKeyOf, type FlowNode } from "./model";
import { SERVICE_STATUS_LABEL, serviceTone } from "./status";

export interface CanvasContextValue {
  services: Map<string, Service>;
  staged: Map<string, StagedNodeState>;
  ports: PublicPorts | undefined;
  onResize: (id: string, width: number, height: number) => void;
  onNoteEdit: (id: string, text: string) => void;
  onGroupRename: (id: string, name: string) => void;
}

export const CanvasContext = createContext<CanvasContextValue | null>(null);

function useCanvas(): CanvasContextValue {
  const c = useContext(CanvasContext);
  if (!c) throw new Error("CanvasContext missing");
  return c;
}

function sourceText(s: Service | undefined, raw: Record<string, unknown>): string {
  const src = (s?.source ?? raw["source"]) as Service["source"] | undefined;
  if (!src) return "";
  if (src.type === "image") return src.image;
  const repo = src.repo_url.replace(/^https?:\/\//, "").replace(/\.git$/, "");
  return `${repo}@${src.branch}`;
}

function domainText(s: Service | undefined): string | null {
  return s?.domains[0] ?? null;
}

export const ServiceNode = memo(function ServiceNode({ data, selected }: NodeProps<FlowNode>) {
  const ctx = useCanvas();
  const node = data.node;
  const key = serviceKeyOf(node);
  const svc = key ? ctx.services.get(key) : undefined;
  const staged = (key && ctx.staged.get(key)) || ctx.staged.get(node.id);
  const raw = { ...(staged?.config ?? {}), ...(node.data ?? {}) } as Record<string, unknown>;
  if (staged?.config?.["source"]) raw["source"] = staged.config["source"];
  const name = staged?.name ?? svc?.name ?? labelOf(node) ?? "service";
  const renamed = staged?.name && svc && staged.name !== svc.name;
  const creating = staged?.creating || (!svc && !key);
  const status = svc?.status;
  const tone = creating ? "staged" : serviceTone(status);
  const replicas = svc?.replicas ?? (raw["replicas"] as number | undefined) ?? 1;
  const domain = domainText(svc);
  const url = domain ? serviceUrl(domain, ctx.ports) : undefined;
  const lastFailed = !creating && svc?.last_deployment_status === "failed";
  const drifted = (svc?.drift?.length ?? 0) > 0;
  const pendingTitle = creating ? null : staged?.pending ? "Staged changes: Deploy to apply" : drifted ? "Settings differ from the running deployment" : null;
  return (
    <div
      className={`svc-node tone-${tone}${selected ? " selected" : ""}${staged?.deleting ? " deleting" : ""}${creating ? " creating" : ""}`}
      data-testid="service-node"
      data-name={name}
      data-status={creating ? "staged" : (status ?? "unknown")}
      data-pending={pendingTitle ? "true" : "false"}
      data-last-deploy={svc?.last_deployment_status ?? ""}
    >
      <Handle type="target" position={Position.Left} className="handle" />
      <div className="svc-head">
        <span className="svc-icon" aria-hidden>
          {(svc?.source ?? (raw["source"] as Service["source"] | undefined))?.type === "git" ? "⎇" : "▣"}
        </span>
        <span className="svc-name" title={name}>
          {name}
        </span>
        {renamed ? <span className="badge badge-staged" title={`was ${svc?.name}`}>renamed</span> : null}
        {lastFailed ? (
          <span className="badge badge-deleting" data-testid="node-deploy-failed" title="The last deploy of this service failed; the one before keeps serving.">
            deploy failed
          </span>
        ) : null}
        {pendingTitle ? <span className="pending-dot" data-testid="node-pending" title={pendingTitle} aria-label={pendingTitle} /> : null}
      </div>
      <div className="svc-source" title={sourceText(svc, raw)}>
        {sourceText(svc, raw) || "\u00a0"}
      </div>
      {domain ? (
        <div className="svc-domain-row">
          <a className="svc-domain nodrag" href={url} target="_blank" rel="noreferrer" title={domain} data-testid="service-node-url">
            {domain}
          </a>
          {url ? (
            <a className="svc-open nodrag" href={url} target="_blank" rel="noreferrer" data-testid="service-node-open" aria-label={`Open ${name}`}>
              Open ↗
            </a>
          ) : null}
        </div>
      ) : null}
      <div className="svc-foot">
        <span className={`dot tone-${tone}`} />
        <span className="svc-status" data-testid="service-node-status">
          {staged?.deleting ? "Deleting on deploy" : creating ? "Creating on deploy" : status ? SERVICE_STATUS_LABEL[status] : "—"}
        </span>
        <span className="svc-replicas" title="replicas">
          ×{replicas}
        </span>
      </div>
      <Handle type="source" position={Position.Right} className="handle" />
    </div>
  );
});

export const GroupNode = memo(function GroupNode({ id, data, selected }: NodeProps<FlowNode>) {
  const ctx = useCanvas();
  const [editing, setEditing] = useState(false);
  const name = labelOf(data.node) || "Group";
  return (
    <div className={`group-node${selected ? " selected" : ""}`} data-testid="group-node" data-name={name}>
      <NodeResizer
        isVisible={selected}
        minWidth={200}
        minHeight={140}
        onResizeEnd={(_, p) => ctx.onResize(id, p.width, p.height)}
        lineClassName="resize-line"
        handleClassName="resize-handle"
      />
      <div className="group-handle">
        {editing ? (
          <input
            className="inline-edit nodrag"
            autoFocus
            defaultValue={name}
            aria-label="Group name"
            onBlur={(e) => {
              setEditing(false);
              if (e.target.value.trim() && e.target.value !== name) ctx.onGroupRename(id, e.target.value.trim());
            }}
            onKeyDown={(e) => {
              if (e.key === "Enter") (e.target as HTMLInputElement).blur();
              if (e.key === "Escape") setEditing(false);
            }}
          />
        ) : (
          <span onDoubleClick={() => setEditing(true)} title="Double-click to rename">
            {name}
          </span>
        )}
      </div>
    </div>
  );
});

export const NoteNode = memo(function NoteNode({ id, data, selected }: NodeProps<FlowNode>) {
  const ctx = useCanvas();
  const [editing, setEditing] = useState(false);
  const text = noteText(data.node);
  return (
    <div className={`note-node${selected ? " selected" : ""}`} data-testid="note-node" onDoubleClick={() => setEditing(true)}>
      {editing ? (
        <textarea
          className="nodrag nowheel"
          autoFocus
          defaultValue={text}
          aria-label="Note text"
          onBlur={(e) => {
            setEditing(false);
            if (e.target.value !== text) ctx.onNoteEdit(id, e.target.value);
          }}
          onKeyDown={(e) => {
            if (e.key === "Escape") (e.target as HTMLTextAreaElement).blur();
          }}
        />
      ) : (
        <div className="note-text">{text || <span className="muted">Double-click to write a note</span>}</div>
      )}
    </div>
  );
});

export const nodeTypes = { service: ServiceNode, group: GroupNode, note: NoteNode };
