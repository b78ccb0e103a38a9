"""paperclip-launcher: serve | run."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from launcher.templates import LauncherConfig

if TYPE_CHECKING:
    from launcher.kube import Kube

DEFAULT_CONFIG = "/etc/paperclip-launcher/templates.json"
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def load_config(path: str) -> LauncherConfig:
    try:
        return LauncherConfig.model_validate_json(Path(path).read_text())
    except FileNotFoundError:
        raise SystemExit(f"error: no launcher config at {path} (--config)") from None
    except ValidationError as exc:
        raise SystemExit(f"error: {path} is not a valid launcher config:\n{exc}") from None


def _kube(kubeconfig: str | None) -> Kube:
    from launcher.kube import Connection, Kube, KubeConfigError

    try:
        return Kube(Connection.auto(kubeconfig))
    except KubeConfigError as exc:
        raise SystemExit(f"error: {exc}") from None


def _token(args: argparse.Namespace) -> str:
    """The callers' bearer token; an empty one (a blank file or variable) is refused, since
    it would accept ``Authorization: Bearer`` with no credential."""
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemExit(
                f"error: cannot read the token file {args.token_file}: {exc}"
            ) from None
        if not token:
            raise SystemExit(
                f"error: the token file {args.token_file} is empty; the launcher would accept "
                "requests without a credential. Put the token in it (the secrets bootstrap "
                "creates <instance>-launcher-token)"
            )
        return token
    token = os.environ.get("PAPERCLIP_LAUNCHER_TOKEN", "").strip()
    if not token:
        raise SystemExit("error: set PAPERCLIP_LAUNCHER_TOKEN or --token-file (not empty)")
    return token


async def _serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    from launcher.runs import Launcher, Timing
    from launcher.server import make_app

    config = load_config(args.config)
    token = _token(args)  # before anything connects: an empty token is refused at once
    # a watched run's heartbeat lands four times per cancel window (at most every 15 s)
    window = args.disconnect_cancel_seconds
    heartbeat = 15.0 if window <= 0 else max(0.25, min(15.0, window / 4))
    launcher = Launcher(_kube(args.kubeconfig), config, Timing(heartbeat=heartbeat))
    await launcher.inherit_pull_secrets(os.environ.get("POD_NAME"))
    app = make_app(
        launcher,
        token,
        reap_interval=args.reap_interval,
        disconnect_cancel_seconds=args.disconnect_cancel_seconds,
    )
    # Open log streams are cut at shutdown; clients resume them from their cursor.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    logging.getLogger("paperclip_launcher").info(
        "serving",
        extra={"host": args.host, "port": args.port, "templates": sorted(config.templates)},
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Running Jobs are left alone: they belong to the cluster, not to this process.
    await runner.cleanup()


async def _run(args: argparse.Namespace) -> int:
    from launcher.jobs import RunRequest
    from launcher.kube import ApiError
    from launcher.runs import AgentBusy, JobClash, Launcher, UnknownTemplate

    config = load_config(args.config)
    try:
        request = RunRequest(
            agent_id=args.agent_id,
            run_id=args.run_id,
            company_id=args.company_id,
            template=args.template,
            api_key=os.environ.get("PAPERCLIP_API_KEY") or None,
            timeout_seconds=args.timeout,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        print(f"error: {field}: {first['msg']}", file=sys.stderr)
        return 2
    async with _kube(args.kubeconfig) as kube:
        launcher = Launcher(kube, config)
        try:
            started = await launcher.start(request)
        except AgentBusy as busy:
            print(f"error: {busy}", file=sys.stderr)
            return 75
        except UnknownTemplate:
            known = ", ".join(sorted(config.templates))
            print(
                f"error: --template {args.template!r} is not in {args.config} ({known})",
                file=sys.stderr,
            )
            return 2
        except (JobClash, ApiError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"[launcher] job {started.job}", file=sys.stderr)
        code = 1
        async for batch in launcher.stream(request.run_id):
            for record in batch:
                if record["type"] == "line":
                    print(record["text"], flush=True)
                else:
                    print(f"[launcher] result {json.dumps(record)}", file=sys.stderr)
                    code = int(record.get("exitCode", 1))
        return code


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="paperclip-launcher", description=__doc__)
    top.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info"))
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--config", default=DEFAULT_CONFIG)
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--kubeconfig", default=None, help="default: in-cluster")
    serve.add_argument(
        "--token-file",
        default=None,
        help="file with the callers' bearer token (else $PAPERCLIP_LAUNCHER_TOKEN)",
    )
    serve.add_argument("--reap-interval", type=float, default=10.0)
    serve.add_argument(
        "--disconnect-cancel-seconds",
        type=float,
        default=60.0,
        help="cancel a run when no client (through any replica) has streamed it for this "
        "long; 0 or less: never",
    )

    run = sub.add_parser("run", help="one run from a workstation, log to stdout")
    run.add_argument("--config", required=True)
    run.add_argument("--kubeconfig", default=None)
    run.add_argument("--template", required=True)
    run.add_argument("--agent-id", required=True)
    run.add_argument("--run-id", required=True)
    run.add_argument("--company-id", required=True)
    run.add_argument("--timeout", type=int, default=None)

    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _logging(args.log_level)
    if args.command == "serve":
        asyncio.run(_serve(args))
        return 0
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
