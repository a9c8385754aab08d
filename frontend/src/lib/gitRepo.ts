/**
 * Where a git repository lives on the web, from the URL it is cloned from: the page of its
 * settings on GitHub or GitLab, for the steps that set up a deploy key or a webhook there.
 */
export type RepoHost = { provider: "github" | "gitlab" | null; web: string | null; ssh: boolean };

export function repoHost(repoUrl: string): RepoHost {
  const url = repoUrl.trim();
  const scp = /^[\w.-]+@([\w.-]+):(.+?)(?:\.git)?\/?$/.exec(url);
  const std = /^(?:https?|ssh|git):\/\/(?:[^@/]+@)?([\w.-]+)(?::\d+)?\/(.+?)(?:\.git)?\/?$/.exec(url);
  const m = scp ?? std;
  if (!m) return { provider: null, web: null, ssh: false };
  const [, host, path] = m as unknown as [string, string, string];
  const provider = host === "github.com" ? "github" : host.includes("gitlab") ? "gitlab" : null;
  return { provider, web: `https://${host}/${path}`, ssh: scp !== null || url.startsWith("ssh://") };
}

/** The repository's page listing deploy keys, or null if the host is not a known one. */
export function deployKeysPage(h: RepoHost): string | null {
  if (!h.web) return null;
  if (h.provider === "github") return `${h.web}/settings/keys`;
  if (h.provider === "gitlab") return `${h.web}/-/settings/repository`;
  return null;
}

/** The repository's page for adding a webhook of `provider`. */
export function webhooksPage(h: RepoHost, provider: "github" | "gitlab"): string | null {
  if (!h.web || (h.provider !== null && h.provider !== provider)) return null;
  return provider === "github" ? `${h.web}/settings/hooks` : `${h.web}/-/hooks`;
}
