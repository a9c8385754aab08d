import { useState } from "react";
import type { EnvDiffEntry, EnvEditResult } from "../api/types";
import { errorText, fieldError, Modal } from "../ui/controls";
import { useToast } from "../ui/toast";
import { masked, toDotenv, useEnvEdit } from "./envEdit";

/** Why references in a value do not resolve, and what it resolves to; shown wherever a staged value is. */
export function ReferenceNotes({ entry, reveal }: { entry: EnvDiffEntry | undefined; reveal: boolean }) {
  if (!entry) return null;
  return (
    <>
      {entry.resolved && entry.problems.length === 0 ? (
        <div className="muted small env-resolved" data-testid="env-resolved">
          resolves to <code>{masked(entry.resolved, reveal)}</code>
        </div>
      ) : null}
      {entry.problems.map((p) => (
        <div key={p} className="field-error small env-problem" data-testid="env-problem">
          ⚠ {p} — it would be deployed literally
        </div>
      ))}
    </>
  );
}

/**
 * The scope's variables as `.env` text: paste or edit, preview what changes (the server parses it
 * with python-dotenv and replays it as a dry run), then stage it as one edit.
 */
export function EnvBulkDialog({
  projectId,
  base,
  current,
  title,
  onClose,
}: {
  projectId: string;
  base: string;
  /** The scope's variables as they will be (staged edits included): the text starts as these. */
  current: Record<string, string>;
  title: string;
  onClose: () => void;
}) {
  const toast = useToast();
  const [text, setText] = useState(() => toDotenv(current));
  const [replace, setReplace] = useState(true);
  const [reveal, setReveal] = useState(false);
  const [preview, setPreview] = useState<EnvEditResult | null>(null);
  const edit = useEnvEdit(projectId, base);
  const run = (dry: boolean) =>
    edit.mutate(
      { dotenv: text, replace, dry_run: dry },
      {
        onSuccess: (r) => {
          if (dry) return setPreview(r);
          toast.success(`${r.edits.length} variable change${r.edits.length === 1 ? "" : "s"} staged. Deploy to apply.`);
          onClose();
        },
        onError: (err) => {
          setPreview(null);
          if (!fieldError(err, "dotenv")) toast.error(errorText(err));
        },
      },
    );
  const problems = new Map((preview?.diff?.env ?? []).map((e) => [e.key, e]));
  return (
    <Modal title={title} onClose={onClose} testId="env-bulk-dialog" wide>
      <p className="muted small">One <code>KEY=value</code> per line, as in a <code>.env</code> file: quotes, <code>export</code> and comments are understood.</p>
      <textarea
        className="env-bulk-text"
        rows={10}
        spellCheck={false}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setPreview(null);
        }}
        aria-label=".env text"
        data-testid="env-bulk-text"
      />
      {fieldError(edit.error, "dotenv") ? <div className="field-error" data-testid="env-bulk-error">{fieldError(edit.error, "dotenv")}</div> : null}
      <div className="row gap small">
        <label className="check">
          <input type="checkbox" checked={replace} onChange={(e) => { setReplace(e.target.checked); setPreview(null); }} data-testid="env-bulk-replace" /> Remove variables not in the text
        </label>
        <div className="grow" />
        <label className="check">
          <input type="checkbox" checked={reveal} onChange={(e) => setReveal(e.target.checked)} /> Show values
        </label>
      </div>
      {preview ? (
        preview.edits.length === 0 ? (
          <p className="muted" data-testid="env-bulk-preview">Nothing changes.</p>
        ) : (
          <ul className="diff-env" data-testid="env-bulk-preview">
            {preview.edits.map((e) => (
              <li key={e.key} className={`env-${e.op}`} data-testid="env-bulk-edit" data-key={e.key} data-op={e.op}>
                <span className="env-op">{e.op === "added" ? "+" : e.op === "removed" ? "−" : "~"}</span>
                <code>{e.key}</code>{" "}
                {e.before !== null ? <span className="diff-before">{masked(e.before, reveal)}</span> : null}
                {e.op === "changed" ? " → " : null}
                {e.after !== null ? <span className="diff-after">{masked(e.after, reveal)}</span> : null}
                <ReferenceNotes entry={e.after !== null ? problems.get(e.key) : undefined} reveal={reveal} />
              </li>
            ))}
          </ul>
        )
      ) : null}
      <div className="modal-actions">
        <button className="btn" onClick={onClose}>
          Cancel
        </button>
        <button className="btn" onClick={() => run(true)} disabled={edit.isPending} data-testid="env-bulk-preview-btn">
          Preview changes
        </button>
        <button className="btn btn-primary" onClick={() => run(false)} disabled={edit.isPending || !preview || preview.edits.length === 0} data-testid="env-bulk-stage">
          Stage {preview ? preview.edits.length : ""} change{preview?.edits.length === 1 ? "" : "s"}
        </button>
      </div>
    </Modal>
  );
}
