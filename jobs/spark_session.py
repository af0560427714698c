"""The one place a SparkSession is built. Entrypoints call this and pass the session down."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def build_session(
    *,
    app_name: str,
    master: str | None = None,
    shuffle_partitions: int | None = None,
    extra_conf: dict[str, str] | None = None,
) -> SparkSession:
    """A session with the settings every streamlake job relies on.

    ANSI mode is on (as on EMR 8 and Glue 6.0) so a bad cast is an error we turn into a
    quarantine reason rather than a silent NULL; the session time zone is UTC so event-time
    partitions do not depend on the machine's zone.
    """
    from pyspark.sql import SparkSession

    # Python workers must import this project; under spark-submit the caller may not have set it.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    conf = {
        "spark.sql.ansi.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(shuffle_partitions or 8),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Small local jobs: do not let adaptive coalescing hide per-partition file layout in tests.
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
    }
    if master and master.startswith("local"):
        # Only takes effect when this call launches the JVM (local runs, tests); under spark-submit
        # the cluster's settings apply. Spark's 1 GiB default is too small for 1M-row batches.
        conf["spark.driver.memory"] = os.environ.get("STREAMLAKE_DRIVER_MEMORY", "4g")
        # Catalyst walks the job's wide plans recursively; on a cold, loaded JVM (interpreted frames
        # are large) the stream thread overflowed the default 1 MiB stack once in tests. EMR and Glue
        # set their own driver options.
        conf["spark.driver.extraJavaOptions"] = "-Xss8m"
    conf.update(extra_conf or {})
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
