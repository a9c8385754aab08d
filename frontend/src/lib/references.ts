import type { ScopeDiff } from "../api/types";

/** An edge of the canvas as far as references go: from the referring node to the referred one. */
export interface EdgeEnds {
  source: string;
  target: string;
}

/**
 * The services that refer to a service about to be deleted, by name, sorted: every edge that ends
 * at its node (a managed reference edge follows `${{name.VAR}}` in the referrer's variables, a
 * user edge says one talks to the other), and every staged variable whose value refers to it.
 * Their references stop resolving once it is gone, so the delete asks first.
 */
export function referrersOf(
  target: { id: string; name: string },
  edges: EdgeEnds[],
  nameOf: (nodeId: string) => string | undefined,
  diff: ScopeDiff[] | undefined,
): string[] {
  const names = new Set<string>();
  for (const e of edges) {
    if (e.target !== target.id || e.source === target.id) continue;
    const name = nameOf(e.source);
    if (name) names.add(name);
  }
  const mention = `\${{${target.name}.`;
  for (const d of diff ?? []) {
    if (d.scope !== "service" || d.id === target.id || d.status === "deleted") continue;
    if (d.env.some((e) => e.op !== "removed" && (e.after ?? "").includes(mention))) names.add(d.name);
  }
  names.delete(target.name);
  return [...names].sort((a, b) => a.localeCompare(b));
}
