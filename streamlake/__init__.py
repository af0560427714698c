"""streamlake: cross-cutting pieces that are not a Spark job (errors, local paths, local stack, producer).

The user's layout (`jobs/ schemas/ emr/ glue/ quality/`) has no home for the developer tooling
that every folder shares, so it lives here; see docs/decisions/0001-streamlake-package.md.
"""
