"""The two local servers: kinesalite (Kinesis) and moto (S3, Glue, SNS, CloudWatch, EMR, Athena, ...).

Why kinesalite for Kinesis and not moto: see docs/decisions/0002-kinesis-emulator.md.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from local.stack.process import ManagedProcess, free_port
from streamlake.errors import StackError

# local/package.json pins the emulator; `make setup` installs it into local/node_modules.
_LOCAL_DIR = Path(__file__).resolve().parents[1]


def kinesalite_binary() -> Path:
    local = _LOCAL_DIR / "node_modules" / ".bin" / "kinesalite"
    if local.exists():
        return local
    found = shutil.which("kinesalite")
    if found:
        return Path(found)
    raise StackError(
        f"kinesalite is not installed (looked in {local} and on PATH). "
        "Run `make setup` (it runs `npm ci` for the Kinesis emulator); Node.js 18+ is required."
    )


def kinesalite(*, data_dir: Path | None, log_path: Path, port: int | None = None) -> ManagedProcess:
    """A kinesalite process; with ``data_dir`` its streams survive a restart (used by fault tests)."""
    port = port or free_port()
    argv = [
        str(kinesalite_binary()),
        "--port",
        str(port),
        # Real AWS takes ~30 s to create a stream; tests want it at once.
        "--createStreamMs",
        "0",
        "--deleteStreamMs",
        "0",
        "--updateStreamMs",
        "0",
        "--shardLimit",
        "100",
    ]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--path", str(data_dir)]
    return ManagedProcess("kinesalite", argv, port=port, log_path=log_path)


def moto_server(*, log_path: Path, port: int | None = None) -> ManagedProcess:
    port = port or free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return ManagedProcess("moto", argv, port=port, log_path=log_path)
