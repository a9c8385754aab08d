from __future__ import annotations

import re

import pytest

from deploykit.slug import project_slug, service_slug, slugify


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("My Shop", "my-shop"),
        ("  Café  Crème ", "cafe-creme"),
        ("api_v2", "api-v2"),
        ("--weird!!name--", "weird-name"),
        ("日本", ""),
        ("a" * 60, "a" * 40),
        ("abc-" + "d" * 50, ("abc-" + "d" * 50)[:40]),
    ],
)
def test_slugify(name: str, expected: str) -> None:
    assert slugify(name) == expected


def test_slugify_never_ends_with_a_dash_after_truncation() -> None:
    assert slugify("a" * 39 + " b") == "a" * 39


def test_project_slug_has_a_random_six_hex_suffix_within_40_chars() -> None:
    slug = project_slug("A very long project name that goes on and on and on")
    assert re.fullmatch(r"[a-z0-9-]+-[0-9a-f]{6}", slug)
    assert len(slug) <= 40
    assert project_slug("x") != project_slug("x")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("My Shop", "my-shop-abc123"), ("!!!", "project-abc123")],
)
def test_project_slug_with_fixed_suffix(name: str, expected: str) -> None:
    assert project_slug(name, suffix="abc123") == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("API", "api"), ("web_app", "web-app"), ("2fa", "s-2fa"), ("", "service")],
)
def test_service_slug_is_a_dns_label_starting_with_a_letter(name: str, expected: str) -> None:
    assert service_slug(name) == expected
