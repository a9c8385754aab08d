import { describe, expect, it } from "vitest";
import type { Service } from "../api/types";
import { draftFromService, draftToService, serviceDelta } from "./serviceDraft";

describe("service draft", () => {
  it("converts the create form into the API's ServiceCreate", () => {
    const d = { ...draftFromService(), name: "web", image: "deploykit-test/busybox:latest", port: "8080", command: '["sh","-c","echo hi"]' };
    const { value, errors } = draftToService(d);
    expect(errors).toEqual({});
    expect(value).toEqual({
      name: "web",
      source: { type: "image", image: "deploykit-test/busybox:latest" },
      port: 8080,
      command: ["sh", "-c", "echo hi"],
      replicas: 1,
      resources: null,
      volumes: [],
      health_check: null,
      restart_policy: "unless-stopped",
    });
  });

  it("reports errors under the API's field names", () => {
    const d = { ...draftFromService(), name: "", port: "99999", hcEnabled: true, volumes: [{ name: "data", mount_path: "rel" }] };
    expect(draftToService(d).errors).toEqual({
      name: "Enter a name.",
      image: "Enter an image, e.g. nginx:1.27.",
      port: "Enter a whole number from 1 to 65535.",
      "volumes.0": "Name and an absolute mount path.",
    });
  });

  it("asks for a port for an HTTP health check only when none is given", () => {
    const d = { ...draftFromService(), name: "web", image: "nginx", port: "", hcEnabled: true, hcType: "http" as const };
    expect(draftToService(d).errors).toEqual({ port: "An HTTP health check needs a port." });
  });

  it("patches only what changed", () => {
    const svc = { name: "api", source: { type: "image", image: "a:1" }, port: 80, command: null, replicas: 1, resources: null, volumes: [], health_check: null, restart_policy: "unless-stopped" } as unknown as Service;
    const { value } = draftToService({ ...draftFromService(svc), replicas: "2" });
    expect(serviceDelta(svc, value!)).toEqual({ replicas: 2 });
  });

  it("keeps a health check's start period and fractional seconds through an edit of something else", () => {
    const health_check = { type: "http", path: "/up", interval_s: 0.5, timeout_s: 0.25, healthy_threshold: 1, unhealthy_threshold: 3, start_period_s: 20 };
    const svc = { name: "api", source: { type: "image", image: "a:1" }, port: 80, command: null, replicas: 1, resources: null, volumes: [], health_check, restart_policy: "unless-stopped" } as unknown as Service;
    const { value, errors } = draftToService({ ...draftFromService(svc), replicas: "3" });
    expect(errors).toEqual({});
    expect(value!.health_check).toEqual(health_check);
    expect(serviceDelta(svc, value!)).toEqual({ replicas: 3 });
  });

  it("checks the health check's seconds against the API's ranges, and replicas from 1", () => {
    const d = { ...draftFromService(), name: "web", image: "a:1", port: "80", replicas: "0", hcEnabled: true, hcInterval: "0.05", hcStartPeriod: "-1" };
    expect(draftToService(d).errors).toEqual({
      replicas: "Enter a whole number from 1 to 100.",
      interval_s: "Enter seconds from 0.1 to 3600.",
      start_period_s: "Enter seconds from 0 to 3600.",
    });
  });

  it("does not stage the limits of a service without any as a change", () => {
    const svc = { name: "api", source: { type: "image", image: "a:1" }, port: 80, command: null, replicas: 1, resources: { cpus: null, memory_mb: null }, volumes: [], health_check: null, restart_policy: "unless-stopped" } as unknown as Service;
    const { value } = draftToService({ ...draftFromService(svc), port: "81" });
    expect(serviceDelta(svc, value!)).toEqual({ port: 81 });
    const limited = draftToService({ ...draftFromService(svc), memory_mb: "256" }).value!;
    expect(serviceDelta(svc, limited)).toEqual({ resources: { cpus: null, memory_mb: 256 } });
  });

  it("takes every repository address the API takes", () => {
    const git = (repo_url: string) => draftToService({ ...draftFromService(), name: "web", sourceType: "git", repo_url, branch: "main" }).errors["repo_url"];
    for (const ok of ["https://example.com/a.git", "ssh://git@example.com/a.git", "git@example.com:a/b.git", "file:///srv/repos/a", "/srv/repos/a"]) expect(git(ok)).toBeUndefined();
    expect(git("example.com/a.git")).toBe("Enter a git URL or an absolute path.");
  });
});
