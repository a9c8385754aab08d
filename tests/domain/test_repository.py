"""Repository URLs as a boundary: which ones are the daemon's own host, and their credentials."""

from __future__ import annotations

import pytest

from deploykit.repository import has_credentials, local_repo, redact_text, redact_url, unredact_url


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("file:///srv/git/app", True),
        ("/srv/git/app", True),
        ("./app", True),
        ("http://127.0.0.1:18555/app.git", True),
        ("http://127.1/app.git", False),  # only resolving tells: the builder checks that
        ("https://LOCALHOST./app.git", True),
        ("http://[::1]/app.git", True),
        ("http://[::ffff:127.0.0.1]/app.git", True),
        ("http://169.254.169.254/latest", True),
        ("ssh://git@[fe80::1%25eth0]/app.git", True),
        ("http://0.0.0.0/app.git", True),
        ("git@127.0.0.2:app.git", True),
        ("https://github.com/acme/app.git", False),
        ("git@github.com:acme/app.git", False),
        ("ssh://git@10.0.0.5:2222/srv/app.git", False),
    ],
)
def test_local_repositories(url: str, local: bool) -> None:
    assert local_repo(url) is local


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://bot:ghp_secret@github.com/acme/app.git", "https://bot:***@github.com/acme/app.git"),
        ("https://ghp_secret@github.com/acme/app.git", "https://***@github.com/acme/app.git"),
        ("http://u:p@10.0.0.5:8080/app.git", "http://u:***@10.0.0.5:8080/app.git"),
        ("ssh://git@github.com/acme/app.git", "ssh://git@github.com/acme/app.git"),  # a user name is no secret
        ("git@github.com:acme/app.git", "git@github.com:acme/app.git"),
        ("https://github.com/acme/app.git", "https://github.com/acme/app.git"),
    ],
)
def test_credentials_are_redacted_and_only_the_redacted_form_maps_back(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert has_credentials(url) is (shown != url)
    assert unredact_url(shown, url) == url
    assert unredact_url("https://bot:***@elsewhere.org/app.git", url) == "https://bot:***@elsewhere.org/app.git"


def test_free_text_loses_every_urls_userinfo() -> None:
    text = "fatal: unable to access 'https://bot:ghp_secret@github.com/a.git/' and https://tok@x.org/b"
    assert redact_text(text) == "fatal: unable to access 'https://***@github.com/a.git/' and https://***@x.org/b"
