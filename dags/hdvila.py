"""The HD-VILA-100M recipe (HD-VILA section 3): >= 720p videos with English subtitles (or ASR),
one clip per sentence group of ~13.4 s cut at sentence boundaries, kept at the source resolution.
The release jsonl's spans are used as the clips when the input gives them.

    python -m dags.hdvila --input PATH --output DIR [options] [beam pipeline options]
    (the same as: python -m curate run --recipe hdvila ...)
"""

from __future__ import annotations

import sys

from curate.media.cut import CutConfig

NAME = "hdvila"
# what this recipe changes in RunConfig's defaults (the command line can override each)
DEFAULTS = {"cut": CutConfig(mode="reencode", short_side=None), "use_given_spans": True}


def clip_recipe():
    from curate.text import hdvila_recipe

    return hdvila_recipe()


def build(p, cfg, resume):
    """read -> probe -> filter/cap -> download -> transcript -> plan clips -> cut -> write."""
    from curate.beam.recipe import prepare_clips, select_videos, write_outputs

    selected = select_videos(p, cfg, resume)
    ready, more_failures = prepare_clips(selected.videos, cfg, clip_recipe())
    return write_outputs(p, ready, selected.failures + more_failures, selected, cfg, resume)


def run(cfg, pipeline_args: list, *, wait: bool = True):
    """Run this recipe with a curate.config.RunConfig on the runner the Beam options choose."""
    from curate.beam.recipe import run_recipe

    return run_recipe(build, cfg, pipeline_args, wait=wait)


def main(argv=None) -> int:
    from curate.run import main_for_recipe

    return main_for_recipe(NAME, argv)


if __name__ == "__main__":
    sys.exit(main())
