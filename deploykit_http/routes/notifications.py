"""Notification channels (admins only): CRUD, a test send, and each channel's deliveries.
Secrets are write-only: a channel is shown with the names of the secrets it holds."""

from __future__ import annotations

from typing import Any

from deploykit.notification import (
    DEFAULT_EVENTS,
    ChannelCreate,
    ChannelFilter,
    ChannelKind,
    ChannelUpdate,
    NotificationKind,
)
from deploykit_http import models_notify as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Access, Call, Endpoint
from deploykit_http.shapes.notify import (
    ChannelList,
    ChannelOut,
    NotificationDeliveryList,
    NotificationDeliveryOut,
    channel_out,
    delivery_out,
)


def endpoints(ctx: Context) -> list[Endpoint]:
    async def list_channels(call: Call) -> Any:
        return {"data": [channel_out(c) for c in await ctx.channels().list_channels(ChannelFilter())]}

    async def create_channel(call: Call) -> Any:
        body: m.ChannelCreateIn = call.body
        if body.project_id is not None:
            await ctx.project(body.project_id)
        create = ChannelCreate(
            name=body.name,
            kind=ChannelKind(body.kind),
            project_id=body.project_id,
            events=DEFAULT_EVENTS if body.events is None else frozenset(NotificationKind(e) for e in body.events),
            enabled=body.enabled,
            settings=body.settings,
            secrets=body.secrets,
        )
        return channel_out(await ctx.channels().create_channel(create))

    async def get_channel(call: Call) -> Any:
        return channel_out(await ctx.channels().get_channel(call.params["channel_id"]))

    async def update_channel(call: Call) -> Any:
        body: m.ChannelUpdateIn = call.body
        upd = ChannelUpdate(
            name=body.name,
            events=None if body.events is None else frozenset(NotificationKind(e) for e in body.events),
            enabled=body.enabled,
            settings=body.settings,
            secrets=body.secrets,
        )
        return channel_out(await ctx.channels().update_channel(call.params["channel_id"], upd))

    async def delete_channel(call: Call) -> Any:
        await ctx.channels().delete_channel(call.params["channel_id"])
        return None

    async def send_test(call: Call) -> Any:
        return delivery_out(await ctx.notifier().send_test(call.params["channel_id"]))

    async def deliveries(call: Call) -> Any:
        q: m.DeliveryQuery = call.query
        items = await ctx.channels().list_deliveries(call.params["channel_id"], q.limit)
        return {"data": [delivery_out(d) for d in items]}

    tag = "notifications"
    admin = Access.ADMIN
    base = "/notification-channels"
    one = base + "/{channel_id}"
    return [
        Endpoint("GET", base, list_channels, "List notification channels", tag, admin, response=ChannelList),
        Endpoint(
            "POST",
            base,
            create_channel,
            "Create a notification channel",
            tag,
            admin,
            body=m.ChannelCreateIn,
            response=ChannelOut,
            status=201,
            errors=(400, 403, 404, 422),
        ),
        Endpoint(
            "GET", one, get_channel, "Get a notification channel", tag, admin, response=ChannelOut, errors=(403, 404)
        ),
        Endpoint(
            "PATCH",
            one,
            update_channel,
            "Update a notification channel",
            tag,
            admin,
            body=m.ChannelUpdateIn,
            response=ChannelOut,
            errors=(400, 403, 404, 422),
        ),
        Endpoint(
            "DELETE", one, delete_channel, "Delete a notification channel", tag, admin, status=204, errors=(403, 404)
        ),
        Endpoint(
            "POST",
            one + "/test",
            send_test,
            "Send a test notification now (one attempt) and return its delivery",
            tag,
            admin,
            response=NotificationDeliveryOut,
            body_required=False,
            errors=(403, 404, 503),
        ),
        Endpoint(
            "GET",
            one + "/deliveries",
            deliveries,
            "A channel's latest deliveries, newest first",
            tag,
            admin,
            query=m.DeliveryQuery,
            response=NotificationDeliveryList,
            errors=(403, 404, 422),
        ),
    ]
