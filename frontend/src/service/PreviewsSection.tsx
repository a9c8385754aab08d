import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "../app";
import type { Preview, PreviewList, PreviewVars, Webhook } from "../api/types";
import { Spinner, errorText, timeAgo } from "../ui/controls";
import { useToast } from "../ui/toast";
import { formatVars, parseVars } from "../lib/previewVars";

const TONE: Record<string, string> = { healthy: "ok", failed: "bad", cancelled: "warn" };

/** Pull-request previews of a git service: on/off and the limit (webhook settings), the variables
 * laid over the service's in every preview, and the previews that run. */
export function PreviewsSection({ hook, base, queryKey, onHook }: { hook: Webhook; base: string; queryKey: readonly unknown[]; onHook: (h: Webhook, message: string) => void }) {
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [max, setMax] = useState(String(hook.max_previews));
  const [varsText, setVarsText] = useState<string | null>(null);
  useEffect(() => setMax(String(hook.max_previews)), [hook.max_previews]);
  const previews = useQuery({
    queryKey: [...queryKey, "list"],
    queryFn: async () => (await api.get<PreviewList>(`${base}/previews`)).data,
    refetchInterval: 3000,
  });
  const vars = useQuery({
    queryKey: [...queryKey, "vars"],
    queryFn: async () => (await api.get<PreviewVars>(`${base}/previews/vars`)).vars,
  });
  const settings = useMutation({
    mutationFn: (patch: { previews?: boolean; max_previews?: number; previews_from_forks?: boolean }) => api.patch<Webhook>(`${base}/webhook`, patch),
    onSuccess: (h) =>
      onHook(
        h,
        !h.previews
          ? "Previews off: pull requests are recorded and skipped."
          : `Previews on: at most ${h.max_previews} at once, ${h.previews_from_forks ? "requests from public forks too" : "not of requests from forks"}.`,
      ),
    onError: (err) => toast.error(errorText(err)),
  });
  const saveVars = useMutation({
    mutationFn: (text: string) => api.put<PreviewVars>(`${base}/previews/vars`, { vars: parseVars(text) }),
    onSuccess: (v) => {
      qc.setQueryData([...queryKey, "vars"], v.vars);
      setVarsText(null);
      toast.success("Preview variables saved: previews deployed from now on use them.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const remove = useMutation({
    mutationFn: (p: Preview) => api.del(`${base}/previews/${p.number}`),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: [...queryKey, "list"] });
      toast.success("Preview removed.");
    },
    onError: (err) => toast.error(errorText(err)),
  });
  const text = varsText ?? formatVars(vars.data ?? {});

  return (
    <div data-testid="previews" data-enabled={String(hook.previews)}>
      <h3 className="section-title">Pull-request previews</h3>
      <div className="row gap small">
        <label className="check">
          <input
            type="checkbox"
            checked={hook.previews}
            disabled={settings.isPending}
            onChange={(e) => settings.mutate({ previews: e.target.checked })}
            data-testid="previews-toggle"
          />{" "}
          Run each open pull request as a preview
        </label>
        <div className="grow" />
        <label className="row gap">
          At most
          <input type="number" min={0} max={20} value={max} onChange={(e) => setMax(e.target.value)} style={{ width: "4.5em" }} data-testid="previews-max" />
        </label>
        <button className="btn btn-sm" disabled={settings.isPending || max === String(hook.max_previews)} onClick={() => settings.mutate({ max_previews: Number(max) })} data-testid="previews-max-save">
          Save
        </button>
      </div>
      <div className="row gap small">
        <label className="check">
          <input
            type="checkbox"
            checked={hook.previews_from_forks}
            disabled={settings.isPending}
            onChange={(e) => settings.mutate({ previews_from_forks: e.target.checked })}
            data-testid="previews-forks-toggle"
          />{" "}
          Also preview requests from forks
        </label>
      </div>
      <p className="muted small">
        A preview is built from the request's head commit and served on its own domain; a new push replaces it, closing or merging the request removes it (containers, volumes, images). Only requests into the service's branch get one; requests beyond the limit are skipped.
        Requests from forks are skipped unless allowed above: a fork's code, written by anyone, would run with the preview variables. An allowed fork must be public (it is cloned from its own repository, without the service's deploy key).
      </p>
      <details className="small" data-testid="preview-vars-editor">
        <summary>Preview variables ({Object.keys(vars.data ?? {}).length})</summary>
        <p className="muted">Laid over the service's own variables in every preview, one <code>KEY=value</code> a line.</p>
        <textarea className="mono" rows={4} style={{ width: "100%" }} value={text} onChange={(e) => setVarsText(e.target.value)} data-testid="preview-vars" />
        <div className="row gap">
          <button className="btn btn-sm btn-primary" disabled={saveVars.isPending || varsText === null} onClick={() => saveVars.mutate(text)} data-testid="preview-vars-save">
            Save variables
          </button>
        </div>
      </details>
      {previews.isPending ? <Spinner /> : null}
      {previews.error ? <div className="form-error">{errorText(previews.error)}</div> : null}
      {previews.data?.length === 0 ? <p className="muted small">No previews running.</p> : null}
      <table className="env-table" data-testid="previews-list">
        <tbody>
          {(previews.data ?? []).map((p) => (
            <tr key={p.id} data-testid="preview" data-number={p.number} data-status={p.status ?? ""}>
              <td className="small">
                {p.url ? (
                  <a href={p.url} target="_blank" rel="noreferrer" data-testid="preview-link">
                    #{p.number}
                  </a>
                ) : (
                  <span data-testid="preview-link">#{p.number}</span>
                )}{" "}
                <span data-testid="preview-title">{p.title}</span>
                <div className="muted">
                  <code>{p.head_ref}</code> · <code>{p.head_sha.slice(0, 7)}</code>
                  {p.author ? ` · ${p.author}` : ""} · {timeAgo(p.updated_at)}
                </div>
              </td>
              <td className="small">
                <span className={`status-pill tone-${TONE[p.status ?? ""] ?? "info"}`} data-testid="preview-status">
                  <span className={`dot tone-${TONE[p.status ?? ""] ?? "info"}`} /> {p.status ?? "unknown"}
                </span>
              </td>
              <td className="small">
                {p.hostname ? (
                  <a href={`https://${p.hostname}`} target="_blank" rel="noreferrer" data-testid="preview-domain">
                    {p.hostname}
                  </a>
                ) : (
                  <span className="muted">no port, no domain</span>
                )}
              </td>
              <td>
                <button className="btn btn-sm btn-danger" disabled={remove.isPending} onClick={() => remove.mutate(p)} data-testid="preview-remove">
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
