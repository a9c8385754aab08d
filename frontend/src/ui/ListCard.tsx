import type { ReactNode } from "react";
import { Modal, Spinner } from "./controls";

/**
 * A card listing records in a table, with a heading and an add button (the users of the admin page,
 * the API keys of the profile). `children` go after the table: the dialogs the card opens.
 */
export function ListCard<T>({
  title,
  testId,
  addLabel,
  addTestId,
  onAdd,
  intro,
  items,
  isPending,
  emptyText,
  row,
  children,
}: {
  title: string;
  testId: string;
  addLabel: string;
  addTestId: string;
  onAdd: () => void;
  /** A line under the heading. */
  intro?: ReactNode;
  items: T[] | undefined;
  isPending: boolean;
  /** Shown once the list has loaded empty. */
  emptyText?: string;
  /** One `<tr>` per record. */
  row: (item: T) => ReactNode;
  children?: ReactNode;
}) {
  return (
    <section className="card" data-testid={testId}>
      <div className="row">
        <h2>{title}</h2>
        <div className="grow" />
        <button className="btn btn-primary btn-sm" onClick={onAdd} data-testid={addTestId}>
          {addLabel}
        </button>
      </div>
      {intro ? <p className="muted small">{intro}</p> : null}
      {isPending ? <Spinner /> : null}
      {emptyText && items?.length === 0 ? <p className="muted small">{emptyText}</p> : null}
      <table className="env-table">
        <tbody>{(items ?? []).map(row)}</tbody>
      </table>
      {children}
    </section>
  );
}

/** A modal holding a form whose actions are Cancel and a primary submit button. */
export function FormModal({
  title,
  onClose,
  onSubmit,
  submitLabel,
  busy,
  submitTestId,
  children,
}: {
  title: string;
  onClose: () => void;
  onSubmit: () => void;
  submitLabel: string;
  busy: boolean;
  submitTestId?: string;
  children: ReactNode;
}) {
  return (
    <Modal title={title} onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          onSubmit();
        }}
      >
        {children}
        <div className="modal-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button className="btn btn-primary" disabled={busy} data-testid={submitTestId}>
            {submitLabel}
          </button>
        </div>
      </form>
    </Modal>
  );
}
