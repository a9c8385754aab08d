import { describe, expect, it } from "vitest";
import { serviceUrl } from "./serviceUrl";

describe("serviceUrl", () => {
  it("writes out a non-default port", () => {
    expect(serviceUrl("web.localhost", { http: 8081, https: 8444 })).toBe("http://web.localhost:8081/");
    expect(serviceUrl("shop.example.com", { http: 8081, https: 8444 }, "active")).toBe("https://shop.example.com:8444/");
  });
  it("leaves out the default ports", () => {
    expect(serviceUrl("web.localhost", { http: 80, https: 443 })).toBe("http://web.localhost/");
    expect(serviceUrl("shop.example.com", { http: 80, https: 443 }, "active")).toBe("https://shop.example.com/");
  });
  it("offers no address until the ports are known", () => {
    expect(serviceUrl("web.localhost", undefined)).toBeUndefined();
  });
});
