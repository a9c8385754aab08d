"""Notifications and the audit log through the real daemon: channels over the API, a test send
to a real HTTP receiver, the audit log as admins and members see it; and, on Docker, a failing
deployment that produces a signed webhook and an e-mail (a real aiosmtpd server)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import TEST_IMAGE
from tests.e2e.support import (
    Account,
    Daemon,
    create_member,
    create_project,
    register_admin,
    running,
)
from tests.notify.receivers import http_receiver, smtp_receiver
from tests.wait import wait_for_sync

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SECRET = "e2e-signing-secret"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running(tmp_path_factory.mktemp("notify"), "--public-url", "https://deploy.example.com") as d:
        yield d


@pytest.fixture(scope="module")
def admin(daemon: Daemon) -> Account:
    return register_admin(daemon)


def test_channels_are_managed_tested_and_keep_their_secrets(daemon: Daemon, admin: Account) -> None:
    member = create_member(admin, "member@example.com")
    with http_receiver() as rx, admin.client() as c:
        bad = c.post("/notification-channels", json={"name": "x", "kind": "webhook", "settings": {"url": "nope"}})
        assert bad.status_code == 422, bad.text
        assert bad.json()["fields"] == {"settings.url": ["must be an http(s) URL"], "secrets.secret": ["is required"]}
        body = {"name": "ops", "kind": "webhook", "settings": {"url": rx.base + "/hook"}, "secrets": {"secret": SECRET}}
        created = c.post("/notification-channels", json=body)
        assert created.status_code == 201, created.text
        channel = created.json()
        assert channel["secrets_set"] == ["secret"]
        assert "deployment.healthy" not in channel["events"]  # opt-in
        cid = channel["id"]
        listed = c.get("/notification-channels")
        assert SECRET not in listed.text
        assert [ch["id"] for ch in listed.json()["data"]] == [cid]

        patched = c.patch(f"/notification-channels/{cid}", json={"name": "ops-2", "events": ["deployment.healthy"]})
        assert (patched.json()["name"], patched.json()["events"]) == ("ops-2", ["deployment.healthy"])

        tested = c.post(f"/notification-channels/{cid}/test")
        assert tested.status_code == 200, tested.text
        assert (tested.json()["outcome"], tested.json()["attempts"]) == ("success", 1)
        [req] = rx.requests
        signature = "sha256=" + hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
        assert req.headers["x-deploykit-signature"] == signature
        assert json.loads(req.body)["event"] == "test"
        deliveries = c.get(f"/notification-channels/{cid}/deliveries").json()["data"]
        assert [(d["id"], d["outcome"]) for d in deliveries] == [(tested.json()["id"], "success")]

        with member.client() as mc:
            assert mc.get("/notification-channels").status_code == 403
            assert mc.post(f"/notification-channels/{cid}/test").status_code == 403
        assert c.delete(f"/notification-channels/{cid}").status_code == 204
        assert c.get(f"/notification-channels/{cid}").status_code == 404
        assert c.get(f"/notification-channels/{cid}/deliveries").status_code == 404


def audit(account: Account, **query: str) -> dict[str, Any]:
    with account.client() as c:
        r = c.get("/audit-log", params=query)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def test_the_audit_log_says_who_did_what_from_where_and_never_a_value(daemon: Daemon, admin: Account) -> None:
    project = create_project(admin, "Audited")
    with daemon.client() as anonymous:
        assert anonymous.post("/auth/login", json={"email": admin.email, "password": "wrong"}).status_code == 401
    with admin.client() as c:
        key = c.post("/api-keys", json={"description": "ci-bot"}).json()
    with daemon.client(key["token"]) as c:
        svc = {"name": "web", "source": {"type": "image", "image": "nginx:1.27"}}
        temp = c.post(f"/projects/{project['id']}/services", json=svc).json()["target_temp_id"]
        var = {"key": "DB_PASSWORD", "value": "hunter2-very-secret"}
        assert c.post(f"/projects/{project['id']}/env-vars", json=var).status_code in (200, 201)
        assert c.post(f"/projects/{project['id']}/deploy").status_code == 200
    assert temp

    failed = wait_for_sync(
        lambda: audit(admin, action="auth.login_failed")["data"], within=10, message="the failed login's entry"
    )
    assert failed[0]["actor"]["name"] == admin.email
    assert failed[0]["actor"]["address"] == "127.0.0.1"
    assert failed[0]["actor"]["user_id"] is None

    applied = wait_for_sync(
        lambda: audit(admin, action="changes.applied", project=project["id"])["data"],
        within=10,
        message="the apply's entry",
    )
    [entry] = applied
    assert (entry["actor"]["api_key_name"], entry["actor"]["user_id"]) == ("ci-bot", admin.user["id"])
    assert [c["kind"] for c in entry["details"]["changes"]] == ["service.create", "env_var.create"]
    page = audit(admin, limit="200")
    assert "hunter2-very-secret" not in json.dumps(page)
    assert "DB_PASSWORD" in json.dumps(page)

    member = create_member(admin, "auditor@example.com")
    seen = audit(member, limit="200")["data"]
    assert seen
    assert all(e["project_id"] is not None for e in seen)
    assert not any(e["action"].startswith(("auth.", "user.", "api_key.")) for e in seen)
    bad = daemon.client(member.token).get("/audit-log", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert "since" in bad.json()["fields"]


@pytest.mark.docker
@pytest.mark.slow
def test_a_failing_deployment_sends_a_signed_webhook_and_an_email(docker_daemon: Daemon) -> None:
    admin = register_admin(docker_daemon)
    project = create_project(admin, "Alerts")
    with http_receiver() as rx, smtp_receiver("mailer", "smtp-pass") as smtp, admin.client() as c:
        webhook = {"name": "hook", "kind": "webhook", "settings": {"url": rx.base}, "secrets": {"secret": SECRET}}
        email = {
            "name": "mail",
            "kind": "email",
            "project_id": project["id"],
            "settings": {
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "username": "mailer",
                "from_address": "deploykit@example.com",
                "to": ["oncall@example.com"],
            },
            "secrets": {"password": "smtp-pass"},
        }
        for channel in (webhook, email):
            assert c.post("/notification-channels", json=channel).status_code == 201
        svc = {"name": "broken", "source": {"type": "image", "image": TEST_IMAGE}, "command": ["sh", "-c", "exit 3"]}
        temp = c.post(f"/projects/{project['id']}/services", json=svc).json()["target_temp_id"]
        sid = c.post(f"/projects/{project['id']}/deploy").json()["temp_id_to_service_id"][temp]

        [req] = rx.wait_for(1, deadline_s=120)
        [message] = smtp.wait_for(1, deadline_s=30)
    signature = "sha256=" + hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-deploykit-signature"] == signature
    body = json.loads(req.body)
    assert (body["event"], body["project"], body["service"], body["service_id"]) == (
        "deployment.failed",
        "Alerts",
        "broken",
        sid,
    )
    assert "exited with code 3" in body["message"]
    assert body["deployment"]
    assert body["at"]
    assert message["Subject"] == "[DeployKit] deployment.failed: Alerts/broken"
    assert smtp.envelopes == [("deploykit@example.com", ["oncall@example.com"])]
    assert "exited with code 3" in message.get_payload()
