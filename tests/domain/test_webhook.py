from __future__ import annotations

import pytest

from deploykit.webhook import parse_github_push, parse_gitlab_push, verify_github_signature, verify_gitlab_token

# GitHub's published example: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
SECRET = "It's a Secret to Everybody"
PAYLOAD = b"Hello, World!"
SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


@pytest.mark.parametrize(
    ("secret", "body", "header", "ok"),
    [
        (SECRET, PAYLOAD, SIGNATURE, True),
        (SECRET, PAYLOAD + b" ", SIGNATURE, False),
        ("other secret", PAYLOAD, SIGNATURE, False),
        (SECRET, PAYLOAD, SIGNATURE.replace("sha256=", "sha1="), False),
        (SECRET, PAYLOAD, None, False),
        (SECRET, PAYLOAD, "", False),
    ],
)
def test_github_signature(secret: str, body: bytes, header: str | None, ok: bool) -> None:
    assert verify_github_signature(secret, body, header) is ok


@pytest.mark.parametrize(("header", "ok"), [("s3cret", True), ("s3cret ", False), ("", False), (None, False)])
def test_gitlab_token(header: str | None, ok: bool) -> None:
    assert verify_gitlab_token("s3cret", header) is ok


def test_parse_github_push() -> None:
    event = parse_github_push(
        {
            "ref": "refs/heads/main",
            "after": "abc123",
            "head_commit": {"id": "abc123", "message": "Fix it", "author": {"name": "Ada"}},
        }
    )
    assert (event.branch, event.commit_sha, event.author, event.message) == ("main", "abc123", "Ada", "Fix it")


def test_parse_github_tag_push_has_no_branch() -> None:
    assert parse_github_push({"ref": "refs/tags/v1", "after": "x"}).branch is None


def test_parse_gitlab_push_takes_the_checkout_commit() -> None:
    event = parse_gitlab_push(
        {
            "ref": "refs/heads/dev",
            "checkout_sha": "b2",
            "user_name": "Grace",
            "commits": [{"id": "b1", "message": "one"}, {"id": "b2", "message": "two", "author": {"name": "Lin"}}],
        }
    )
    assert (event.branch, event.commit_sha, event.author, event.message) == ("dev", "b2", "Lin", "two")
