import { describe, expect, it } from "vitest";
import { deployKeysPage, repoHost, webhooksPage } from "./gitRepo";

describe("repoHost", () => {
  it.each([
    ["https://github.com/acme/api.git", "github", "https://github.com/acme/api", false],
    ["git@github.com:acme/api.git", "github", "https://github.com/acme/api", true],
    ["ssh://git@gitlab.example.com:2222/group/sub/api.git", "gitlab", "https://gitlab.example.com/group/sub/api", true],
    ["https://gitlab.com/group/api", "gitlab", "https://gitlab.com/group/api", false],
    ["https://git.example.org/acme/api.git", null, "https://git.example.org/acme/api", false],
  ])("reads %s", (url, provider, web, ssh) => {
    expect(repoHost(url)).toEqual({ provider, web, ssh });
  });

  it("knows nothing of a local path", () => {
    expect(repoHost("/srv/repos/api")).toEqual({ provider: null, web: null, ssh: false });
  });
});

describe("settings pages", () => {
  it("links the provider's deploy key and webhook pages", () => {
    const gh = repoHost("git@github.com:acme/api.git");
    expect(deployKeysPage(gh)).toBe("https://github.com/acme/api/settings/keys");
    expect(webhooksPage(gh, "github")).toBe("https://github.com/acme/api/settings/hooks");
    const gl = repoHost("https://gitlab.com/group/api.git");
    expect(deployKeysPage(gl)).toBe("https://gitlab.com/group/api/-/settings/repository");
    expect(webhooksPage(gl, "gitlab")).toBe("https://gitlab.com/group/api/-/hooks");
  });

  it("links no webhook page of the other provider", () => {
    expect(webhooksPage(repoHost("https://github.com/acme/api"), "gitlab")).toBeNull();
  });
});
