"""The one place where aiodocker and aiohttp failures become ``deploykit.Error``."""

from __future__ import annotations

import asyncio

import aiohttp
from aiodocker.exceptions import DockerError

from deploykit.errors import CONFLICT, INTERNAL, INVALID, NOT_FOUND, UNAVAILABLE, Error

# aiodocker reports "cannot connect" as a pseudo HTTP status.
CONNECT_FAILED = 900

_REGISTRY_DOWN = ("no such host", "dial tcp", "i/o timeout", "connection refused", "tls handshake", "timeout")
_IMAGE_MISSING = ("not found", "manifest unknown", "pull access denied", "repository does not exist", "no such image")


def translate(exc: BaseException, what: str) -> Error:
    """A domain error for an engine failure while doing ``what`` (a phrase such as
    "container dk-shop-api-0-1a2b3c4d"). The engine's raw text is never the message."""
    if isinstance(exc, Error):
        return exc
    if isinstance(exc, DockerError):
        status = exc.status
        if status == CONNECT_FAILED:
            return Error(UNAVAILABLE, "The Docker engine is not reachable.")
        if status == 404:
            return Error(NOT_FOUND, f"{what} not found.")
        if status == 409:
            return Error(CONFLICT, f"{what} conflicts with the engine's current state.")
        if status == 403:
            return Error(CONFLICT, f"{what} is in use.")
        if status == 400:
            return Error(INVALID, f"The Docker engine rejected the request for {what}.")
        if status >= 500:
            return Error(UNAVAILABLE, f"The Docker engine failed on {what}.")
        return Error(INTERNAL, f"Unexpected Docker engine answer ({status}) for {what}.")
    if isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        return Error(UNAVAILABLE, "The Docker engine is not reachable.")
    return Error(INTERNAL, f"Unexpected failure on {what}.")


def translate_pull(exc: BaseException, ref: str) -> Error:
    """Registry failures: nobody answers -> ``unavailable``; no such image -> ``not_found``."""
    if isinstance(exc, DockerError) and exc.status != CONNECT_FAILED:
        text = str(exc.message).lower()
        if any(s in text for s in _REGISTRY_DOWN):
            return Error(UNAVAILABLE, f"No registry answered for image {ref}.")
        if exc.status == 404 or any(s in text for s in _IMAGE_MISSING):
            return Error(NOT_FOUND, f"Image {ref} not found.")
        return Error(UNAVAILABLE, f"Pulling image {ref} failed.")
    return translate(exc, f"image {ref}")
