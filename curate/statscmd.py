"""``python -m curate stats DIR``: rebuild stats.json, report.md and its plots from a run's
clips.parquet and failures.jsonl, and print the report."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="output directory of a curation run")


def main(args: argparse.Namespace) -> int:
    from curate.output.report import report_markdown
    from curate.files import exists, join
    from curate.output.write import write_stats

    if not exists(join(args.directory, "clips.parquet")):
        raise SystemExit(f"error: {args.directory} has no clips.parquet (not a finished curation run)")
    stats = write_stats(args.directory)
    print(report_markdown(stats))
    return 0
