"""The wheel that ships to clusters holds the runtime packages and their declarations, nothing else."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {"jobs", "schemas", "quality", "glue", "emr", "streamlake"}
NEVER_SHIPPED = {"local", "bench", "tests"}
RUNTIME = {"pyspark", "boto3", "botocore", "pyarrow", "pyyaml", "jsonschema"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """Build from a copy of the tree, so the test sees exactly what `make package` would."""
    src = tmp_path_factory.mktemp("src") / "streamlake"
    junk = shutil.ignore_patterns(
        ".git", ".venv", "node_modules", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
    )
    shutil.copytree(ROOT, src, ignore=junk)
    out = src.parent / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("streamlake-*.whl")
    return zipfile.ZipFile(built)


def _packages(names: list[str]) -> set[str]:
    return {n.split("/")[0] for n in names if "/" in n and ".dist-info/" not in n}


def test_the_wheel_holds_exactly_the_shipped_packages(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert _packages(names) == SHIPPED
    assert not _packages(names) & NEVER_SHIPPED
    assert not [n for n in names if "bench" in n or "producer" in n or "/stack/" in n or "verify" in n]


def test_every_shipped_module_and_declaration_is_inside(wheel: zipfile.ZipFile) -> None:
    in_tree = {
        p.relative_to(ROOT).as_posix()
        for pkg in SHIPPED
        for p in (ROOT / pkg).rglob("*")
        if p.suffix in {".py", ".yaml"} and "__pycache__" not in p.parts
    }
    assert in_tree - set(wheel.namelist()) == set()
    assert any(n.startswith("schemas/streams/") for n in in_tree)  # the stream declarations ship too


def test_runtime_requirements_are_only_what_shipped_code_imports(wheel: zipfile.ZipFile) -> None:
    (meta_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = Parser().parsestr(wheel.read(meta_name).decode())
    requires = meta.get_all("Requires-Dist") or []
    unconditional = {r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
                     for r in requires if "extra ==" not in r}  # fmt: skip
    assert unconditional == RUNTIME
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"local", "bench", "dev"} <= extras
