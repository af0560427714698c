"""Logging setup for entrypoints. Library modules only call ``logging.getLogger(__name__)``."""

from __future__ import annotations

import logging
from collections.abc import Sequence


def configure_logging(*, quiet: Sequence[str] = ()) -> None:
    """For entrypoints only: they own the root logger; library modules only create their own."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "botocore", "urllib3", *quiet):
        logging.getLogger(noisy).setLevel(logging.WARNING)
