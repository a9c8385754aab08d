import { useCallback } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { PendingChange } from "../api/types";
import { errorText } from "../ui/controls";
import { useToast } from "../ui/toast";

/** Mutations shared by the canvas and the side panel, each with its toast. */
export function useServiceActions(projectId: string) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();

  const addPending = useCallback(
    (c: PendingChange | undefined) => {
      if (!c || typeof c !== "object" || !("id" in c)) return;
      qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => (prev && !prev.some((x) => x.id === c.id) ? [...prev, c] : prev));
    },
    [qc, projectId],
  );

  const stageDelete = useCallback(
    async (serviceId: string, name: string) => {
      try {
        const change = await api.del<PendingChange>(`/projects/${projectId}/services/${serviceId}`);
        addPending(change);
        // Staged, so it can be taken back: the canvas (Backspace) and the panel both delete this way.
        toast.success(`Deleting “${name}” is staged. Deploy to apply.`, {
          label: "Undo",
          run: () => {
            api
              .del(`/projects/${projectId}/pending-changes/${change.id}`)
              .then(() => qc.setQueryData<PendingChange[]>(keys.pending(projectId), (prev) => prev?.filter((c) => c.id !== change.id)))
              .catch((err) => toast.error(errorText(err)));
          },
        });
      } catch (err) {
        toast.error(errorText(err));
      }
    },
    [api, qc, projectId, toast, addPending],
  );

  return { stageDelete, addPending };
}
