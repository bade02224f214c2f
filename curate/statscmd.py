"""``python -m curate stats DIR``: rebuild stats.json, report.md and its plots of a run's output from
its index (the shards' Parquet sidecars) and failures.jsonl, and print the report."""

from __future__ import annotations

import argparse

from curate.files import exists, join
from curate.output.index import SHARDS
from curate.output.report import report_markdown
from curate.output.summary import FAILURES_FILE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="output directory of a curation run")


def main(args: argparse.Namespace) -> int:
    if not (exists(join(args.directory, SHARDS)) and exists(join(args.directory, FAILURES_FILE))):
        raise SystemExit(f"error: {args.directory} has no shards/ and failures.jsonl (not a finished curation run)")
    from curate.beam.finalize import FILE, rebuild  # heavy: Beam; only the summary rebuild runs a pipeline

    index_file = exists(join(args.directory, "clips.parquet"))  # refreshed only where the run wrote it
    stats = rebuild(args.directory, source=FILE, index_file=index_file)
    print(report_markdown(stats))
    return 0
