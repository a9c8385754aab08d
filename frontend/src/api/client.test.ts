import { describe, expect, it, vi } from "vitest";
import { ApiClient, ApiError, memoryTokenStore } from "./client";
import type { AuthTokens } from "./types";

const NOW = Date.parse("2026-01-01T00:00:00Z");
const later = (ms: number) => new Date(NOW + ms).toISOString();
const pair = (n: number, expiresIn = 3_600_000): AuthTokens => ({
  access_token: `a${n}`,
  refresh_token: `r${n}`,
  expires_at: later(expiresIn),
});
const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;
function fakeFetch(handler: Handler) {
  const calls: { url: string; auth: string | null; body: string | null }[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    calls.push({ url, auth: new Headers(init.headers).get("Authorization"), body: (init.body as string) ?? null });
    return handler(url, init);
  });
  return { fn: fn as unknown as typeof fetch, calls };
}

describe("ApiClient token refresh", () => {
  it("retries a request once with the refreshed token after a 401", async () => {
    const store = memoryTokenStore(pair(1));
    const { fn, calls } = fakeFetch((url, init) => {
      if (url.endsWith("/auth/refresh")) return json(200, pair(2));
      const auth = new Headers(init.headers).get("Authorization");
      return auth === "Bearer a2" ? json(200, { ok: true }) : json(401, { error: "unauthorized", message: "expired" });
    });
    const client = new ApiClient({ store, fetch: fn, now: () => NOW });
    await expect(client.get("/projects")).resolves.toEqual({ ok: true });
    expect(calls.map((c) => [c.url, c.auth])).toEqual([
      ["/api/projects", "Bearer a1"],
      ["/api/auth/refresh", null],
      ["/api/projects", "Bearer a2"],
    ]);
    expect(store.get()).toEqual(pair(2));
  });

  it("shares one refresh between concurrent 401s so the rotated refresh token is never reused", async () => {
    const store = memoryTokenStore(pair(1));
    let refreshes = 0;
    const { fn } = fakeFetch(async (url, init) => {
      if (url.endsWith("/auth/refresh")) {
        refreshes += 1;
        await new Promise((r) => setTimeout(r, 5));
        return json(200, pair(2));
      }
      const auth = new Headers(init.headers).get("Authorization");
      return auth === "Bearer a2" ? json(200, url) : json(401, { error: "unauthorized", message: "x" });
    });
    const client = new ApiClient({ store, fetch: fn, now: () => NOW });
    const results = await Promise.all([client.get("/a"), client.get("/b"), client.get("/c")]);
    expect(results).toEqual(["/api/a", "/api/b", "/api/c"]);
    expect(refreshes).toBe(1);
  });

  it("refreshes proactively when the access token is about to expire", async () => {
    const store = memoryTokenStore(pair(1, 10_000));
    const { fn, calls } = fakeFetch((url) => (url.endsWith("/auth/refresh") ? json(200, pair(2)) : json(200, {})));
    const client = new ApiClient({ store, fetch: fn, now: () => NOW });
    await client.get("/auth/me");
    expect(calls.map((c) => c.auth)).toEqual([null, "Bearer a2"]);
  });

  it("clears the session and reports it once when the refresh is rejected", async () => {
    const store = memoryTokenStore(pair(1));
    const lost = vi.fn();
    const { fn } = fakeFetch(() => json(401, { error: "unauthorized", message: "revoked" }));
    const client = new ApiClient({ store, fetch: fn, now: () => NOW, onAuthLost: lost });
    const err = await client.get("/projects").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect(store.get()).toBeNull();
    expect(lost).toHaveBeenCalledTimes(1);
  });

  it("keeps the tokens when the refresh fails because the network is down", async () => {
    const store = memoryTokenStore(pair(1));
    const lost = vi.fn();
    const { fn } = fakeFetch((url) => {
      if (url.endsWith("/auth/refresh")) throw new TypeError("Failed to fetch");
      return json(401, { error: "unauthorized", message: "expired" });
    });
    const client = new ApiClient({ store, fetch: fn, now: () => NOW, onAuthLost: lost });
    const err = (await client.get("/projects").catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe("unavailable");
    expect(store.get()).toEqual(pair(1));
    expect(lost).not.toHaveBeenCalled();
  });

  it("exposes the 422 fields map for inline form errors", async () => {
    const store = memoryTokenStore(pair(1));
    const { fn } = fakeFetch(() =>
      json(422, { error: "invalid", message: "Invalid input.", fields: { name: ["must not be empty"] } }),
    );
    const client = new ApiClient({ store, fetch: fn, now: () => NOW });
    const err = (await client.post("/projects", { name: "" }).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(422);
    expect(err.field("name")).toBe("must not be empty");
    expect(err.message).toBe("Invalid input.");
  });
});
