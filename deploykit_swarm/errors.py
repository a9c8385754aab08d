"""The one place where aiodocker and aiohttp failures become ``deploykit.Error`` for Swarm calls."""

from __future__ import annotations

import asyncio

import aiohttp
from aiodocker.exceptions import DockerError

from deploykit.errors import CONFLICT, INTERNAL, INVALID, NOT_FOUND, UNAVAILABLE, Error

# aiodocker reports "cannot connect" as a pseudo HTTP status.
CONNECT_FAILED = 900


def translate(exc: BaseException, what: str) -> Error:
    """A domain error for an engine failure while doing ``what`` ("swarm service dk_shop_api_0_1a2b");
    the engine's raw text is never the message, except Swarm's 503 "not a manager" hint."""
    if isinstance(exc, Error):
        return exc
    if isinstance(exc, DockerError):
        status = exc.status
        if status == CONNECT_FAILED:
            return Error(UNAVAILABLE, "The Docker engine is not reachable.")
        if status == 404:
            return Error(NOT_FOUND, f"{what} not found.")
        if status == 409:
            return Error(CONFLICT, f"{what} conflicts with the swarm's current state.")
        if status == 403:
            return Error(CONFLICT, f"{what} is in use.")
        if status == 400:
            return Error(INVALID, f"The swarm rejected the request for {what}.")
        if status == 503:
            return Error(UNAVAILABLE, f"The engine is not a swarm manager (while reaching {what}).")
        if status >= 500:
            return Error(UNAVAILABLE, f"The Docker engine failed on {what}.")
        return Error(INTERNAL, f"Unexpected Docker engine answer ({status}) for {what}.")
    if isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        return Error(UNAVAILABLE, "The Docker engine is not reachable.")
    return Error(INTERNAL, f"Unexpected failure on {what}.")
