"""``python -m curate``: the curation command line.

Each subcommand lives in its own module and is imported only when used, so ``--help`` is fast and a
missing extra is reported by the subcommand that needs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, one-line help). The module provides add_arguments(parser) and main(args).
SUBCOMMANDS = {
    "make-media": ("samplemedia.cli", "write sample videos with speech, subtitles and true sentence times"),
    "run": ("curate.run", "run a curation recipe (hdvila, vidla) into WebDataset shards"),
    "stats": ("curate.statscmd", "rebuild and print the statistics report of a curation run"),
    "gallery": ("curate.gallery", "a static HTML page of sampled clips, plots and failures of a curation run"),
    "check": ("curate.checkcmd", "verify a finished output: shards, index, stats and members agree"),
    "export": ("curate.export", "write the metadata-only release of an output (hdvila-jsonl, vidla-jsonl)"),
    "hierarchical-testset": (
        "curate.text.hierarchy",
        "short/medium/long clip triplets centred on one timestamp (VidLA appendix H) as a test set",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m curate", description=__doc__.splitlines()[0], allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv=None) -> int:
    # Beam pipeline options are passed through untouched: parse_known_args keeps them for the runner.
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.pipeline_args = extra
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "run":  # options it does not know are Beam's, or misspelt: say which with a hint
        run_parser = parser._subparsers._group_actions[0].choices["run"]
        return int(args._module.main(args, [o for a in run_parser._actions for o in a.option_strings]) or 0)
    return int(args._module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
