"""Every schema of the OpenAPI document has its plain name: two shapes or models sharing a class
name would be published under module paths (``deploykit_http__shapes__git__DeliveryOut``), and
the generated frontend types that name the first would silently lose it."""

from __future__ import annotations

from deploykit_http.app import openapi_document


def test_no_two_schemas_share_a_name() -> None:
    names = list(openapi_document()["components"]["schemas"])
    assert [n for n in names if "__" in n] == []
    assert {"DeliveryOut", "NotificationDeliveryOut", "AuditEntryOut", "ChannelOut"} <= set(names)
