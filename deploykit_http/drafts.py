"""Service drafts: what a client is sketching on the canvas, shown to the others as a ghost.

Drafts are never stored, so they live in the room's memory; each is bounded in size, each client
in how many it keeps per project, and a client's drafts go when its socket does. A draft belongs
to the client that started it: nobody else can take it over, cancel it or turn it into a service.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from deploykit.errors import INVALID, Error
from deploykit_http.rooms import Client, Room

MAX_DRAFT_BYTES = 16 * 1024
"""A draft's JSON at most: a name, a source, a port and a few settings take well under 1 KiB."""
MAX_DRAFTS_PER_CLIENT = 10
"""Drafts one connection keeps in one project at once; a person drafts one service at a time."""


def start_draft(room: Room, client: Client, payload: dict[str, Any]) -> dict[str, Any]:
    """Start or update one of the client's drafts; the draft to broadcast. Raises ``invalid``."""
    draft_id = str(payload.get("draft_id") or uuid.uuid4())
    owner = room.draft_clients.get(draft_id)
    if owner is not None and owner != client.id:
        raise Error(INVALID, "This draft belongs to someone else.")
    if owner is None and sum(1 for c in room.draft_clients.values() if c == client.id) >= MAX_DRAFTS_PER_CLIENT:
        raise Error(INVALID, f"At most {MAX_DRAFTS_PER_CLIENT} drafts at once; finish or cancel one first.")
    draft = {**room.drafts.get(draft_id, {}), **payload, "draft_id": draft_id}
    draft.update(user_id=client.user_id, user_name=client.identity.user.name)
    if len(json.dumps(draft, separators=(",", ":"), default=str)) > MAX_DRAFT_BYTES:
        raise Error(INVALID, f"A draft is at most {MAX_DRAFT_BYTES // 1024} KiB.")
    room.drafts[draft_id] = draft
    room.draft_clients[draft_id] = client.id
    return draft


def end_draft(room: Room, client: Client, draft_id: str) -> bool:
    """Drop one of the client's drafts (cancelled, or created as a service); whether it had one."""
    if room.draft_clients.get(draft_id) != client.id:
        return False
    del room.draft_clients[draft_id]
    room.drafts.pop(draft_id, None)
    return True


def release_drafts(room: Room, client: Client) -> list[str]:
    """Drop every draft of a client that left; their ids."""
    ids = [d for d, c in room.draft_clients.items() if c == client.id]
    for draft_id in ids:
        end_draft(room, client, draft_id)
    return ids
