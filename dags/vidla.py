"""The YT-VidLA-800M recipe (VidLA section 3, table 1): clips at three scales cut at sentence
boundaries (short ~13 s, medium ~30 s, long ~60 s), re-encoded to a 224 short side for training,
then (when models are given) BLIP-2 frame captions and LLM summaries of captions and subtitles.

    python -m dags.vidla --input PATH --output DIR [options] [beam pipeline options]
    (the same as: python -m curate run --recipe vidla ...)
"""

from __future__ import annotations

import sys

from curate.media.cut import CutConfig
from curate.models.config import config_from_args
from curate.recipes import Recipe, register_recipe
from curate.run import main_for_recipe
from curate.text import vidla_recipe


def clip_recipe():
    return vidla_recipe()


def annotation_config(cfg):
    return config_from_args(cfg.annotate)


def build(p, cfg, resume):
    """read -> probe -> filter/cap -> download -> transcript -> plan clips -> cut -> write, or with
    models: ... plan clips -> cut + decode frames -> caption -> summarize -> commit -> write."""
    # heavy: Beam; the registry imports this module for `curate run --help` too
    from curate.beam.recipe import prepare_clips, select_videos, write_outputs, write_staged_outputs

    selected = select_videos(p, cfg, resume)
    planned, more_failures = prepare_clips(selected.videos, cfg, clip_recipe())
    config = annotation_config(cfg)
    if not config.enabled:  # subtitle-only: the same cut and write as every recipe
        return write_outputs(p, planned, selected.failures + more_failures, selected, cfg, resume)
    from curate.beam.models import AnnotateClips

    # cuts and decodes the frames on the download's worker; the manifest is written once annotated
    staged, annotate_failures = planned | "AnnotateClips" >> AnnotateClips(
        config, cfg.output, cfg.cut, cfg.download_config()
    )
    failures = selected.failures + more_failures + [annotate_failures]
    return write_staged_outputs(p, staged, failures, selected, cfg, resume)


RECIPE = register_recipe(
    Recipe(
        name="vidla",
        help="short/medium/long clips",
        build=build,
        cut=CutConfig(mode="reencode", short_side=224),  # re-encoded to a 224 short side for training
        # VidLA plans its own multi-scale clips, so spans a source gives are not used unless asked for
        use_given_spans=False,
        takes_models=True,  # BLIP-2 frame captions and LLM summaries
    )
)


def main(argv=None) -> int:
    return main_for_recipe(RECIPE.name, argv)


if __name__ == "__main__":
    sys.exit(main())
