"""``dk`` against the real daemon (no Docker needed): login, projects, staging, diff, deploy, the
exit codes, and --json on reads."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx

from tests.cli.conftest import Dk
from tests.e2e.support import PASSWORD, Account, Daemon, create_project


def test_login_with_a_password_stores_an_api_key_readable_only_by_the_user(
    daemon: Daemon, admin: Account, tmp_path: Path
) -> None:
    dk = Dk(daemon.base, tmp_path / "config")
    result = dk.ok("login", daemon.base, "--email", admin.email, "--password", PASSWORD)
    assert f"Logged in to {daemon.base} as {admin.email}" in result.stdout
    path = tmp_path / "config" / "cli.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["url"] == daemon.base
    assert stored["token"].startswith("dk_")

    who = json.loads(dk.ok("whoami", "--json").stdout)
    assert (who["url"], who["user"]["email"]) == (daemon.base, admin.email)

    # The key works on its own, and logging out deletes it on the daemon.
    with httpx.Client(base_url=daemon.base + "/api", headers={"Authorization": f"Bearer {stored['token']}"}) as c:
        assert c.get("/auth/me").status_code == 200
        assert dk.ok("logout").stdout.strip() == f"Logged out of {daemon.base}."
        assert c.get("/auth/me").status_code == 401
    assert json.loads(path.read_text())["token"] is None
    result = dk("whoami")
    assert result.exit_code == 3
    assert "Not logged in: run 'dk login URL'" in result.stderr


def test_login_with_a_token_checks_it(daemon: Daemon, admin: Account, tmp_path: Path) -> None:
    dk = Dk(daemon.base, tmp_path / "config")
    bad = dk("login", daemon.base, "--token", "dk_not-a-key")
    assert bad.exit_code == 3
    assert "Log in with 'dk login URL'." in bad.stderr
    assert not (tmp_path / "config" / "cli.json").exists()
    no_scheme = dk("login", daemon.base.removeprefix("http://"), "--token", admin.token)
    assert no_scheme.exit_code == 2
    assert "is not a URL: write http://... or https://..." in no_scheme.stderr
    dk.ok("login", daemon.base, "--token", admin.token)
    assert json.loads((tmp_path / "config" / "cli.json").read_text())["token"] == admin.token


def test_env_overrides_the_stored_login_and_bad_tokens_exit_3(dk: Dk, admin: Account) -> None:
    assert admin.email in dk.ok("whoami").stdout
    dk.token = "dk_wrong"
    result = dk("projects")
    assert result.exit_code == 3
    assert "Log in with 'dk login URL'." in result.stderr


def test_an_unreachable_daemon_exits_7(dk: Dk) -> None:
    dk.url = "http://127.0.0.1:9"
    result = dk("projects")
    assert result.exit_code == 7
    assert "Cannot reach DeployKit at http://127.0.0.1:9" in result.stderr


def test_projects_create_list_use_and_remove(dk: Dk) -> None:
    created = json.loads(dk.ok("projects", "create", "Cli Shop", "--json").stdout)
    listed = json.loads(dk.ok("projects", "--json").stdout)
    assert created["id"] in [p["id"] for p in listed]
    assert "Cli Shop" in dk.ok("projects").stdout

    missing = dk("services")
    assert missing.exit_code == 2
    assert "No project: pass --project NAME" in missing.stderr
    dk.ok("use", created["slug"])
    assert dk.ok("services").stdout.strip() == "No services yet."
    assert dk.ok("services", "--project", "cli shop", "--json").stdout.strip() == "[]"

    not_confirmed = dk("projects", "rm", "Cli Shop", input="n\n")
    assert not_confirmed.exit_code == 2
    dk.ok("projects", "rm", "Cli Shop", "--yes")
    gone = dk("projects", "rm", "Cli Shop", "--yes")
    assert gone.exit_code == 4
    assert "Project 'Cli Shop' not found." in gone.stderr


def test_stage_diff_discard_and_deploy(dk: Dk, admin: Account) -> None:
    project = create_project(admin, "Staging Cli")
    p = ["--project", project["id"]]
    dk.ok("add", "web", "--image", "nginx:1.27", "--port", "80", "-e", "MODE=prod", *p)
    dk.ok("set", "web", "replicas=2", "memory=64", "command=nginx -g 'daemon off;'", *p)
    dk.ok("env", "set", "LOG=debug", *p)
    (Path.cwd() / ".env").write_text("# comment\nA=1\nexport B='two words'\n")
    dk.ok("env", "set", "--file", ".env", "--service", "web", *p)

    changes = json.loads(dk.ok("diff", "--changes", "--json", *p).stdout)
    kinds = [c["kind"] for c in changes]
    assert kinds == [
        "service.create",
        "env_var.create",
        "service.update",
        "env_var.create",
        "env_var.create",
        "env_var.create",
    ]
    assert changes[2]["payload"]["command"] == ["nginx", "-g", "daemon off;"]
    text = dk.ok("diff", "--changes", *p).stdout
    assert "+ service web" in text
    assert "+ env LOG (project)" in text
    assert "replicas: 1 -> 2" in text

    scoped = dk.ok("diff", *p).stdout
    assert "+ service web" in scoped
    assert "replicas: 2" in scoped
    assert "env + MODE=prod" in scoped
    assert "+ project Staging Cli" not in scoped
    assert "env + LOG=debug" in scoped
    diffs = json.loads(dk.ok("diff", "--json", *p).stdout)
    assert [(d["scope"], d["status"]) for d in diffs] == [("service", "created"), ("project", "changed")]
    assert sorted(e["key"] for e in diffs[0]["env"]) == ["A", "B", "MODE"]

    one = changes[4]["id"][:8]  # A=1 from the .env file
    dk.ok("discard", one, *p)
    assert len(json.loads(dk.ok("diff", "--changes", "--json", *p).stdout)) == 5

    deployed = json.loads(dk.ok("deploy", "--json", *p).stdout)
    assert deployed["result"]["applied_count"] == 5
    assert [d["status"] for d in deployed["deployments"]] == ["pending"]
    assert deployed["deployments"][0]["config"]["replicas"] == 2
    assert deployed["deployments"][0]["env_vars"] == {"LOG": "debug", "MODE": "prod", "B": "two words"}

    services = json.loads(dk.ok("services", "--json", *p).stdout)
    assert [(s["name"], s["config"]["port"], s["config"]["resources"]["memory_mb"]) for s in services] == [
        ("web", 80, 64)
    ]
    env = json.loads(dk.ok("env", "list", "--service", "web", "--json", *p).stdout)
    assert sorted((v["key"], v["value"]) for v in env) == [("B", "two words"), ("MODE", "prod")]

    # Existing keys are updated, unknown keys cannot be unset.
    dk.ok("env", "set", "MODE=staging", "--service", "web", *p)
    dk.ok("env", "unset", "B", "--service", "web", *p)
    staged = json.loads(dk.ok("diff", "--changes", "--json", *p).stdout)
    assert [(c["kind"], c["payload"].get("value"), c["before"]["key"]) for c in staged] == [
        ("env_var.update", "staging", "MODE"),
        ("env_var.delete", None, "B"),
    ]
    text = dk.ok("diff", "--changes", *p).stdout
    assert "~ env MODE" in text
    assert "= staging" in text
    assert "- env B" in text
    missing = dk("env", "unset", "NOPE", "--service", "web", *p)
    assert missing.exit_code == 4
    assert "Not set at service scope: NOPE." in missing.stderr
    dk.ok("discard", "--yes", *p)
    assert dk.ok("diff", *p).stdout.strip() == "No staged changes."

    status = json.loads(dk.ok("status", "--json", *p).stdout)
    assert status["pending_changes"] == 0
    assert [(s["service"]["name"], s["urls"]) for s in status["services"]] == [
        ("web", [f"https://web-{project['slug']}.localhost"])
    ]
    assert dk.ok("open", "web", "--no-browser", *p).stdout.strip() == f"https://web-{project['slug']}.localhost"


def test_bad_input_exits_2_naming_the_field_and_stages_nothing(dk: Dk, admin: Account) -> None:
    project = create_project(admin, "Bad Input")
    p = ["--project", project["id"]]
    cases = [
        (["add", "web", "--image", "Not An Image!", *p], "source.image: must be an image reference"),
        (["add", "web", *p], "Give exactly one of --image or --git."),
        (["add", "9web", "--image", "nginx", *p], "name: must start with a letter"),
        (["env", "set", "NOEQUALS", *p], "NOEQUALS: must be a pair written KEY=value"),
        (["env", "set", "1BAD=x", *p], "key: must start with a letter or '_'"),
    ]
    for args, message in cases:
        result = dk(*args)
        assert (result.exit_code, message in result.stderr) == (2, True), (args, result.stderr)
    dk.ok("add", "web", "--image", "nginx", *p)
    for args, message in [
        (["set", "web", "port=abc", *p], "port: must be a whole number"),
        (["set", "web", "replicas=0", *p], "replicas: must be between 1 and 20"),
        (["set", "web", "colour=blue", *p], "colour: is not a setting"),
        (["set", "web", "branch=dev", *p], "branch: needs a git source"),
    ]:
        result = dk(*args)
        assert (result.exit_code, message in result.stderr) == (2, True), (args, result.stderr)
    assert [c["kind"] for c in json.loads(dk.ok("diff", "--changes", "--json", *p).stdout)] == ["service.create"]
    taken = dk("add", "WEB", "--image", "nginx", *p)
    assert taken.exit_code == 5, taken.stderr
    unknown = dk("set", "api", "port=80", *p)
    assert unknown.exit_code == 4
    assert "Service 'api' not found in project 'Bad Input'." in unknown.stderr


def test_help_has_examples_and_exit_codes(dk: Dk) -> None:
    top = dk.ok("--help").stdout
    assert "Exit codes: 0 ok" in top
    assert "dk deploy --wait" in top
    assert "dk set web replicas=3 memory=256" in dk.ok("set", "--help").stdout
    assert "--install-completion" in top


def test_shell_completion_offers_commands_projects_and_services(dk: Dk, admin: Account) -> None:
    project = create_project(admin, "Completion Shop")
    dk.ok("add", "worker", "--image", "nginx", "--project", project["id"])
    dk.ok("add", "web", "--image", "nginx", "--project", project["id"])
    dk.ok("deploy", "--project", project["id"])
    dk.ok("add", "wiki", "--image", "nginx", "--project", project["id"])  # staged only
    assert dk.complete("dk lo") == ["login", "logout", "logs"]
    assert "Completion Shop" in " ".join(dk.complete("dk services --project Compl"))
    assert dk.complete(f"dk logs --project {project['id']} w") == ["web", "wiki", "worker"]
    assert dk.complete(f"dk set --project {project['id']} wo") == ["worker"]
    dk.token = "dk_wrong"  # a daemon that refuses completes nothing, quietly
    assert dk.complete(f"dk logs --project {project['id']} w") == []
