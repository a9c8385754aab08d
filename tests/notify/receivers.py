"""Real receivers for notification tests: an HTTP server that records every request and answers
with the statuses it is told to, and an SMTP server (aiosmtpd) that records every message, with
AUTH when given credentials. Both run in threads on free local ports, so that the daemon in a
separate process can reach them as well as in-process senders can."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.wait import wait_for_sync


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HTTPReceiver:
    base: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """Answers to give, first to last; 200 once they run out."""

    def wait_for(self, count: int, deadline_s: float = 20.0) -> list[Received]:
        wait_for_sync(lambda: len(self.requests) >= count, within=deadline_s, message=f"{count} HTTP request(s)")
        return self.requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_receiver() -> Iterator[HTTPReceiver]:
    receiver: HTTPReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            answer = b"ok" if status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = HTTPReceiver(base=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SMTPReceiver:
    port: int
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def wait_for(self, count: int, deadline_s: float = 20.0) -> list[Message]:
        wait_for_sync(lambda: len(self.messages) >= count, within=deadline_s, message=f"{count} e-mail(s)")
        return self.messages


def self_signed_cert(directory: Path) -> Path:
    """A certificate and key for 127.0.0.1 (one PEM file): trusted by a client given it as
    ``SSL_CERT_FILE``, and served by the SMTP receiver."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "smtp.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


@contextmanager
def smtp_receiver(
    username: str | None = None, password: str | None = None, *, tls: str = "none", cert: Path | None = None
) -> Iterator[SMTPReceiver]:
    """``tls``: ``none``, ``starttls`` (required before MAIL) or ``tls`` (implicit), with ``cert``."""
    receiver = SMTPReceiver(port=0)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            receiver.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            receiver.messages.append(message_from_bytes(envelope.original_content or envelope.content))
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and data.login.decode() == username and data.password.decode() == password:
            receiver.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    kwargs: dict[str, Any] = {}
    if username is not None:
        # AUTH only after STARTTLS there; else allowed in the clear: aiosmtpd cannot tell that an
        # implicit-TLS connection is encrypted (and warns about it).
        kwargs = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": tls == "starttls"}
    if tls != "none":
        assert cert is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert)
        if tls == "starttls":
            kwargs |= {"tls_context": context, "require_starttls": True}
        else:
            kwargs["ssl_context"] = context
    receiver.port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=receiver.port, **kwargs)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
