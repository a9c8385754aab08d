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
      port: "An HTTP health check needs a port.",
      "volumes.0": "Name and an absolute mount path.",
    });
  });

  it("patches only what changed", () => {
    const svc = { name: "api", source: { type: "image", image: "a:1" }, port: 80, command: null, replicas: 1, resources: null, volumes: [], health_check: null, restart_policy: "unless-stopped" } as unknown as Service;
    const { value } = draftToService({ ...draftFromService(svc), replicas: "2" });
    expect(serviceDelta(svc, value!)).toEqual({ replicas: 2 });
  });
});
