"""``deploykitd``: serve (the default), migrate, backup, restore, reset-password, version."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from deploykit import Error, __version__, error_message
from deploykit.repository import redact_text
from deploykit_sqlite import Store
from deploykitd import backup as backup_cli
from deploykitd.config import Config, build_parser, config_from_args
from deploykitd.main import Main

log = logging.getLogger("deploykitd")


class RedactCredentials(logging.Filter):
    """No log line carries a URL's ``user:token@``: debug logs include SQL parameters and git output."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_text is None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)  # the access log's method, path, status, ...
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(config: Config) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactCredentials())
    if config.log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.log_level.upper())
    if config.log_level != "debug":
        logging.getLogger("aiosqlite").setLevel(logging.WARNING)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per notification sent otherwise
        for chatty in ("botocore", "boto3", "s3transfer"):  # S3 backups: a line per credential lookup
            logging.getLogger(chatty).setLevel(logging.WARNING)


async def serve(config: Config) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = 0

    def on_signal(sig: signal.Signals) -> None:
        nonlocal signals
        signals += 1
        log.info("received %s", sig.name)
        if signals > 1:
            log.warning("second signal: exiting at once")
            sys.exit(1)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    main = Main(config)
    try:
        await main.open()
        host, port = config.host_port
        log.info("deploykitd %s listening on %s:%d (data in %s)", __version__, host, port, config.data_dir)
        await main.run(stop)
    finally:
        await main.close()
    log.info("stopped")
    return 0


async def reset_password(config: Config, email: str, password: str, *, keep_api_keys: bool = False) -> int:
    from deploykit_events import EventBus

    store = Store(path=str(config.db_path), data_dir=config.data_dir, bus=EventBus())
    await store.open()
    try:
        await store.auth.reset_password(email, password, keep_api_keys=keep_api_keys)
    except Exception as exc:
        print(f"deploykitd: {error_message(exc)}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    ended = "their sessions have ended" if keep_api_keys else "their sessions and API keys have ended"
    print(f"Password of {email} reset; {ended}.")
    return 0


async def migrate_command(config: Config, *, take_backup: bool) -> int:
    applied, written = await backup_cli.migrate_with_backup(config, take_backup=take_backup)
    if written is not None:
        print(f"Backed up the database to {written} before migrating.")
    print(f"Applied migrations: {applied}" if applied else "The database is up to date.")
    return 0


async def backup_commands(config: Config, args: argparse.Namespace) -> int:
    volumes = not args.no_volumes
    if args.command == "restore":
        return await backup_cli.restore(
            config, args.archive, s3_endpoint=args.s3_endpoint, force=args.force, volumes=volumes
        )
    if args.verify is not None:
        return await backup_cli.verify(config, args.verify, s3_endpoint=args.s3_endpoint)
    return await backup_cli.backup(config, out=args.out, to=args.to, s3_endpoint=args.s3_endpoint, volumes=volumes)


def run_command(work: Coroutine[Any, Any, int]) -> int:
    """Run a one-shot command; a domain error is printed as one line and exits 1."""
    try:
        return asyncio.run(work)
    except Error as exc:
        print(f"deploykitd: {exc.message}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    if command == "version":
        print(f"deploykitd {__version__}")
        return 0
    config = config_from_args(args)
    setup_logging(config)
    if command == "migrate":
        config.db_path.parent.mkdir(parents=True, exist_ok=True)
        return run_command(migrate_command(config, take_backup=not args.no_backup))
    if command in ("backup", "restore"):
        return run_command(backup_commands(config, args))
    if command == "reset-password":
        config.data_dir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(reset_password(config, args.email, args.password, keep_api_keys=args.keep_api_keys))
    try:
        return asyncio.run(serve(config))
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
