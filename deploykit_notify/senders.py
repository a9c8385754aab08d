"""The senders: one per channel kind, each implementing ``deploykit.notification.Sender``.

HTTP channels (the signed webhook, Slack, Discord) share one ``httpx.AsyncClient`` that the
``Notifier`` owns and makes on the first HTTP notification; e-mail goes over SMTP with aiosmtplib (asyncio-native, STARTTLS and implicit
TLS, AUTH; the standard library's ``smtplib`` would block the event loop). Every failure is
translated here, once, to ``unavailable`` with the receiver's answer, and never carries a
channel's secret (a Slack or Discord URL is one).

httpx and aiosmtplib are imported on first use: a daemon without channels never loads them (httpx
alone brings about 5 MB resident, with the rich and click it imports for its command line).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING

from deploykit.errors import UNAVAILABLE, Error
from deploykit.notification import Channel, ChannelKind, Notification, SMTPSecurity

if TYPE_CHECKING:
    import httpx

SIGNATURE_HEADER = "X-DeployKit-Signature"
EVENT_HEADER = "X-DeployKit-Event"
MAX_ANSWER = 200
DISCORD_LIMIT = 2000


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>``, as GitHub signs its webhooks."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _hide(text: str, channel: Channel) -> str:
    for secret in channel.secrets.values():
        if secret:
            text = text.replace(secret, "***")
    return text


def chat_text(note: Notification) -> str:
    text = f"*{note.title}*\n{note.message}"
    return text + (f"\n{note.url}" if note.url else "")


class HTTPSender:
    """The generic webhook, Slack and Discord: one JSON POST each."""

    def __init__(self, client: Callable[[], httpx.AsyncClient]) -> None:
        self._client = client
        """The shared client, made on first use."""

    async def send(self, channel: Channel, note: Notification) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "DeployKit", EVENT_HEADER: note.event.value}
        if channel.kind is ChannelKind.WEBHOOK:
            url = str(channel.settings["url"])
            body = json.dumps(note.body(), separators=(",", ":")).encode()
            headers[SIGNATURE_HEADER] = sign(channel.secrets["secret"], body)
        elif channel.kind is ChannelKind.SLACK:
            url = channel.secrets["url"]
            body = json.dumps({"text": chat_text(note)}).encode()
        elif channel.kind is ChannelKind.DISCORD:
            url = channel.secrets["url"]
            body = json.dumps({"content": chat_text(note)[:DISCORD_LIMIT]}).encode()
        else:
            raise Error(UNAVAILABLE, f"A {channel.kind.value} channel is not sent over HTTP.")
        import httpx

        try:
            response = await self._client().post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise Error(UNAVAILABLE, _hide(f"The receiver could not be reached: {reason}", channel)) from exc
        if not 200 <= response.status_code < 300:
            answer = response.text[:MAX_ANSWER].strip()
            message = f"The receiver answered HTTP {response.status_code}" + (f": {answer}" if answer else ".")
            raise Error(UNAVAILABLE, _hide(message, channel))


class EmailSender:
    """E-mail over SMTP: ``security`` is ``starttls`` (default, port 587), ``tls`` (implicit, 465)
    or ``none``; with ``username`` the server's AUTH is used with the sealed ``password``."""

    def __init__(self, *, timeout_s: float = 15.0) -> None:
        self._timeout_s = timeout_s

    async def send(self, channel: Channel, note: Notification) -> None:
        s = channel.settings
        security = SMTPSecurity(s.get("security", SMTPSecurity.STARTTLS.value))
        message = EmailMessage()
        message["From"] = str(s["from_address"])
        message["To"] = ", ".join(s["to"])
        message["Subject"] = note.title
        lines = [note.message, ""]
        if note.url:
            lines += [note.url, ""]
        lines += [f"event: {note.event.value}", f"at: {note.at.isoformat()}"]
        message.set_content("\n".join(lines))
        import aiosmtplib

        try:
            await aiosmtplib.send(
                message,
                hostname=str(s["host"]),
                port=int(s["port"]),
                username=s.get("username") or None,
                password=channel.secrets.get("password") if s.get("username") else None,
                use_tls=security is SMTPSecurity.TLS,
                start_tls=security is SMTPSecurity.STARTTLS,
                timeout=float(s.get("timeout_s", self._timeout_s)),
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise Error(UNAVAILABLE, _hide(f"The mail server refused or failed: {reason}"[:300], channel)) from exc
