"""The HD-VILA-100M recipe (HD-VILA section 3): >= 720p videos with English subtitles (or ASR),
one clip per sentence group of ~13.4 s cut at sentence boundaries, kept at the source resolution.
The release jsonl's spans are used as the clips when the input gives them.

    python -m dags.hdvila --input PATH --output DIR [options] [beam pipeline options]
    (the same as: python -m curate run --recipe hdvila ...)
"""

from __future__ import annotations

import sys

from curate.media.cut import CutConfig
from curate.recipes import Recipe, register_recipe
from curate.run import main_for_recipe
from curate.text import hdvila_recipe


def clip_recipe():
    return hdvila_recipe()


def build(p, cfg, resume):
    """read -> probe -> filter/cap -> download -> transcript -> plan clips -> cut -> write."""
    # heavy: Beam; the registry imports this module for `curate run --help` too
    from curate.beam.recipe import prepare_clips, select_videos, write_outputs

    selected = select_videos(p, cfg, resume)
    ready, more_failures = prepare_clips(selected.videos, cfg, clip_recipe())
    return write_outputs(p, ready, selected.failures + more_failures, selected, cfg, resume)


RECIPE = register_recipe(
    Recipe(
        name="hdvila",
        help="sentence clips at source resolution",
        build=build,
        cut=CutConfig(mode="reencode", short_side=None),  # kept at the source resolution
        use_given_spans=True,  # the release jsonl's spans are the clips when the input gives them
    )
)


def main(argv=None) -> int:
    return main_for_recipe(RECIPE.name, argv)


if __name__ == "__main__":
    sys.exit(main())
