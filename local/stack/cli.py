"""``python -m local.stack``: run the local stack in the foreground, or around one command."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

from local.stack.local import local_stack
from streamlake.errors import StreamlakeError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local.stack",
        description="Start kinesalite (Kinesis) and a moto server (S3, Glue, ...) on free loopback ports. "
        "They stop when this command stops; nothing outlives it.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run in the foreground until Ctrl-C; endpoints go to var/stack/endpoints.json")
    run = sub.add_parser("run", help="start the stack, run a command with its endpoints in the env, stop")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    for p in sub.choices.values():
        p.add_argument("--ephemeral", action="store_true", help="keep Kinesis data in memory only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        with local_stack(persistent_kinesis=not args.ephemeral) as stack:
            if args.command == "up":
                for key, value in stack.env().items():
                    if "SECRET" not in key:
                        print(f"export {key}={value}")
                print("stack is up; Ctrl-C to stop", flush=True)
                stop = threading.Event()
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
                with contextlib.suppress(KeyboardInterrupt):
                    stop.wait()
                return 0
            cmd = [c for c in args.cmd if c != "--"]
            if not cmd:
                print("error: `run` needs a command after --", file=sys.stderr)
                return 2
            return subprocess.call(cmd, env={**os.environ, **stack.env()})
    except StreamlakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
