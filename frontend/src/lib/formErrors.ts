import { useCallback, useEffect, useState } from "react";
import { ApiError } from "../api/client";
import { fieldError } from "../ui/controls";
import type { ServiceDraft } from "./serviceDraft";

/** The API's field names a draft key's value is sent under (a health check's fields are nested). */
const DRAFT_TO_FIELDS: Partial<Record<keyof ServiceDraft, string[]>> = {
  sourceType: ["source", "image", "repo_url", "branch"],
  image: ["image", "source"],
  port: ["port", "health_check"],
  hcEnabled: ["health_check", "port"],
  hcType: ["health_check", "port"],
  hcPath: ["path"],
  hcInterval: ["interval_s"],
  hcTimeout: ["timeout_s"],
  hcHealthy: ["healthy_threshold"],
  hcUnhealthy: ["unhealthy_threshold"],
  hcStartPeriod: ["start_period_s"],
};

export function fieldsOfDraftKeys(keys: string[]): string[] {
  return keys.flatMap((k) => [k, ...(DRAFT_TO_FIELDS[k as keyof ServiceDraft] ?? [])]);
}

/**
 * A form's errors in one place: the client's own checks and the server's answer, both shown
 * beside their fields and forgotten as soon as the field is edited; what no field shows (a
 * conflict, an offline canvas, a field the form has no input for) is returned by `general`
 * for one line under the form. Forms never toast their errors as well.
 */
export function useFormErrors(error: unknown) {
  const [local, setLocal] = useState<Record<string, string>>({});
  const [cleared, setCleared] = useState<ReadonlySet<string>>(new Set());
  useEffect(() => setCleared(new Set()), [error]);

  const get = useCallback(
    (...names: string[]): string | undefined => {
      const own = names.map((n) => local[n]).find(Boolean);
      if (own) return own;
      if (names.some((n) => cleared.has(n))) return undefined;
      return fieldError(error, ...names);
    },
    [local, cleared, error],
  );

  /** The user edited these draft keys: their messages go. */
  const edited = useCallback((draftKeys: string[]) => {
    const names = fieldsOfDraftKeys(draftKeys);
    setLocal((prev) => {
      if (!names.some((n) => n in prev || Object.keys(prev).some((k) => k.startsWith(`${n}.`)))) return prev;
      return Object.fromEntries(Object.entries(prev).filter(([k]) => !names.some((n) => k === n || k.startsWith(`${n}.`))));
    });
    setCleared((prev) => new Set([...prev, ...names]));
  }, []);

  /** The message for what the inputs do not show: a non-field error, or fields without an input. */
  const general = (shown: string[]): string | undefined => {
    if (!error) return undefined;
    if (!(error instanceof ApiError)) return error instanceof Error ? error.message : "Something went wrong.";
    const fields = Object.entries(error.fields);
    if (fields.length === 0) return error.status === 422 ? undefined : error.message;
    const unplaced = fields.filter(([k]) => !cleared.has(k) && !shown.some((s) => k === s || k.endsWith(`.${s}`) || k.startsWith(`${s}.`)));
    return unplaced.length ? unplaced.map(([k, v]) => `${k}: ${v[0] ?? ""}`).join("; ") : undefined;
  };

  return { local, setLocal, get, edited, general };
}
