import { keys } from "../app";
import type { PendingChange } from "../api/types";
import { stagedEnvOfScope } from "../lib/stagedDiff";
import { ScopedVariables } from "../service/ScopedVariables";
import { Modal } from "../ui/controls";

/** Variables every service in a group inherits (overriding project ones); writes are staged. */
export function GroupVariablesDialog({
  projectId,
  groupId,
  groupName,
  pending,
  onClose,
}: {
  projectId: string;
  groupId: string;
  groupName: string;
  pending: PendingChange[];
  onClose: () => void;
}) {
  const staged = stagedEnvOfScope(pending, "group", groupId);
  return (
    <Modal title={`Variables of ${groupName}`} onClose={onClose} testId="group-variables-dialog" wide>
      <p className="muted small">Services in this group inherit these; a service's own variable with the same name wins.</p>
      <ScopedVariables
        projectId={projectId}
        scope="group"
        scopeId={groupId}
        base={`/projects/${projectId}/groups/${groupId}`}
        queryKey={keys.envVars(projectId, "group", groupId)}
        staged={staged}
        addedToast={(key) => `${key} staged for the services in ${groupName}.`}
        testIdPrefix="group-env"
        emptyText="No group variables yet."
      />
      <div className="modal-actions">
        <button className="btn" onClick={onClose}>
          Done
        </button>
      </div>
    </Modal>
  );
}
