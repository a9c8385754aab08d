import type { AuthTokens } from "./types";

/** An error response from the API, or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: Record<string, string[]>;

  constructor(status: number, code: string, message: string, fields: Record<string, string[]> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  /** The first server message for a form field, for inline display. */
  field(name: string): string | undefined {
    return this.fields[name]?.[0];
  }
}

export interface TokenStore {
  get(): AuthTokens | null;
  set(tokens: AuthTokens | null): void;
}

export function localTokenStore(key = "deploykit.tokens"): TokenStore {
  return {
    get() {
      try {
        const raw = localStorage.getItem(key);
        return raw ? (JSON.parse(raw) as AuthTokens) : null;
      } catch {
        return null;
      }
    },
    set(tokens) {
      if (tokens) localStorage.setItem(key, JSON.stringify(tokens));
      else localStorage.removeItem(key);
    },
  };
}

export function memoryTokenStore(initial: AuthTokens | null = null): TokenStore {
  let value = initial;
  return {
    get: () => value,
    set: (t) => {
      value = t;
    },
  };
}

export interface ApiClientOptions {
  store: TokenStore;
  baseUrl?: string;
  fetch?: typeof fetch;
  now?: () => number;
  /** Called once when the session cannot be refreshed; the app returns to the login page. */
  onAuthLost?: (reason: string) => void;
  /** Refresh this long before `expires_at` so that requests rarely see a 401. */
  refreshLeewayMs?: number;
}

export interface RequestOptions {
  body?: unknown;
  auth?: boolean;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

async function toApiError(res: Response): Promise<ApiError> {
  let code = "internal";
  let message = `${res.status} ${res.statusText}`.trim();
  let fields: Record<string, string[]> = {};
  try {
    const body = (await res.json()) as { error?: string; message?: string; fields?: Record<string, string[] | string> };
    if (body.error) code = body.error;
    if (body.message) message = body.message;
    if (body.fields) {
      fields = Object.fromEntries(
        Object.entries(body.fields).map(([k, v]) => [k, Array.isArray(v) ? v : [String(v)]]),
      );
    }
  } catch {
    // not JSON: keep the status text
  }
  if (res.status === 429) {
    const after = res.headers.get("Retry-After");
    if (after) message = `${message} Try again in ${after} s.`;
  }
  return new ApiError(res.status, code, message, fields);
}

/**
 * The HTTP client. Access tokens refresh transparently: proactively shortly before they expire and
 * after a 401. Refresh tokens rotate and a reused one revokes the session, so concurrent callers share
 * one refresh in flight instead of each spending the same refresh token.
 */
export class ApiClient {
  private readonly store: TokenStore;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly leeway: number;
  private refreshing: Promise<AuthTokens | null> | null = null;
  onAuthLost: (reason: string) => void;

  constructor(opts: ApiClientOptions) {
    this.store = opts.store;
    this.baseUrl = opts.baseUrl ?? "/api";
    this.fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
    this.now = opts.now ?? (() => Date.now());
    this.leeway = opts.refreshLeewayMs ?? 30_000;
    this.onAuthLost = opts.onAuthLost ?? (() => {});
  }

  get tokens(): AuthTokens | null {
    return this.store.get();
  }

  setTokens(tokens: AuthTokens | null): void {
    this.store.set(tokens);
  }

  isSignedIn(): boolean {
    return this.store.get() !== null;
  }

  /** Rotate the token pair once, shared by every concurrent caller. Null when the session is gone. */
  refresh(): Promise<AuthTokens | null> {
    if (this.refreshing) return this.refreshing;
    const current = this.store.get();
    if (!current) return Promise.resolve(null);
    this.refreshing = (async () => {
      try {
        const res = await this.fetchImpl(`${this.baseUrl}/auth/refresh`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: current.refresh_token }),
        });
        if (!res.ok) {
          // Another tab may have rotated the pair meanwhile; its tokens are then already stored.
          const latest = this.store.get();
          if (latest && latest.refresh_token !== current.refresh_token) return latest;
          this.store.set(null);
          return null;
        }
        const tokens = (await res.json()) as AuthTokens;
        this.store.set(tokens);
        return tokens;
      } catch {
        // A network failure is not a lost session: keep the tokens and let the caller see the error.
        throw new ApiError(0, "unavailable", "The server cannot be reached.");
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** A usable access token, refreshed first when it is about to expire. */
  async accessToken(): Promise<string | null> {
    if (this.refreshing) await this.refreshing.catch(() => null);
    const tokens = this.store.get();
    if (!tokens) return null;
    const expires = Date.parse(tokens.expires_at);
    if (Number.isFinite(expires) && expires - this.now() < this.leeway) {
      const fresh = await this.refresh();
      return fresh?.access_token ?? null;
    }
    return tokens.access_token;
  }

  private lose(reason: string): void {
    this.store.set(null);
    this.onAuthLost(reason);
  }

  /** A raw authenticated fetch (used for SSE streams); retries once after refreshing on a 401. */
  async fetchAuthed(path: string, init: RequestInit = {}): Promise<Response> {
    const send = async (token: string | null): Promise<Response> => {
      const headers = new Headers(init.headers);
      if (token) headers.set("Authorization", `Bearer ${token}`);
      try {
        return await this.fetchImpl(`${this.baseUrl}${path}`, { ...init, headers });
      } catch (err) {
        if (err instanceof DOMException && err.name === "AbortError") throw err;
        throw new ApiError(0, "unavailable", "The server cannot be reached.");
      }
    };
    const token = await this.accessToken();
    if (token === null) {
      if (this.store.get() === null) this.lose("Your session has ended. Please sign in again.");
      throw new ApiError(401, "unauthorized", "Not signed in.");
    }
    let res = await send(token);
    if (res.status !== 401) return res;
    const fresh = await this.refresh();
    if (!fresh) {
      this.lose("Your session has expired. Please sign in again.");
      return res;
    }
    res = await send(fresh.access_token);
    if (res.status === 401) this.lose("Your session has expired. Please sign in again.");
    return res;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
    const init: RequestInit = { method, headers, signal: opts.signal };
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    let res: Response;
    if (opts.auth === false) {
      try {
        res = await this.fetchImpl(`${this.baseUrl}${path}`, init);
      } catch {
        throw new ApiError(0, "unavailable", "The server cannot be reached.");
      }
    } else {
      res = await this.fetchAuthed(path, init);
    }
    if (!res.ok) throw await toApiError(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, { signal });
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, { body: body ?? {} });
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, { body });
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, { body });
  }
  del<T = void>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }
}
