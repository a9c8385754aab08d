import { useMemo } from "react";
import { useQuery } from "@tanstack/react-query";
import { keys, useApi } from "../app";
import type { PendingChangeList, PresetList, Project, ServicePage } from "../api/types";
import { stagedProjectName, stagedServices, usePendingDiff } from "../lib/stagedDiff";

/** What the canvas shows besides its nodes: the project, its applied services, its staged changes
 * (kept current by the canvas socket through the same query keys) with the server's diff of them,
 * and the database presets. */
export function useProjectData(projectId: string) {
  const api = useApi();
  const project = useQuery({ queryKey: keys.project(projectId), queryFn: () => api.get<Project>(`/projects/${projectId}`) });
  const services = useQuery({
    queryKey: keys.services(projectId),
    queryFn: async () => (await api.get<ServicePage>(`/projects/${projectId}/services?limit=100`)).data,
  });
  const pending = useQuery({
    queryKey: keys.pending(projectId),
    queryFn: async () => (await api.get<PendingChangeList>(`/projects/${projectId}/pending-changes?limit=100`)).data,
  });
  const presets = useQuery({
    queryKey: ["presets"],
    queryFn: async () => (await api.get<PresetList>("/presets/databases")).data,
    retry: false,
    staleTime: 300_000,
  });

  const serviceMap = useMemo(() => new Map((services.data ?? []).map((s) => [s.id, s])), [services.data]);
  const diff = usePendingDiff(projectId, pending.data);
  const staged = useMemo(() => stagedServices(diff.data), [diff.data]);
  const stagedName = useMemo(() => stagedProjectName(diff.data), [diff.data]);

  return { project, services, pending, presets, serviceMap, staged, stagedName };
}
