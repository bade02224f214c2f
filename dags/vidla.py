"""The YT-VidLA-800M recipe (VidLA section 3, table 1): clips at three scales cut at sentence
boundaries (short ~13 s, medium ~30 s, long ~60 s), re-encoded to a 224 short side for training,
then (when models are given) BLIP-2 frame captions and LLM summaries of captions and subtitles.

    python -m dags.vidla --input PATH --output DIR [options] [beam pipeline options]
    (the same as: python -m curate run --recipe vidla ...)
"""

from __future__ import annotations

import sys

from curate.cut import CutConfig

NAME = "vidla"
# what this recipe changes in RunConfig's defaults (the command line can override each);
# VidLA plans its own multi-scale clips, so spans a source gives are not used unless asked for
DEFAULTS = {"cut": CutConfig(mode="reencode", short_side=224), "use_given_spans": False}


def clip_recipe():
    from curate.text import vidla_recipe

    return vidla_recipe()


def annotate(videos, cfg):
    """The model stages (issue 4) over one element per video: (VideoMeta, tuple[Clip] of all scales).
    Returns (annotated, failures); passes through untouched when no model is configured."""
    from curate.annotate import AnnotateClips, AnnotateConfig

    return videos | "AnnotateClips" >> AnnotateClips(cfg.annotate or AnnotateConfig())


def build(p, cfg, resume):
    """read -> probe -> filter/cap -> download -> transcript -> plan clips -> annotate -> cut -> write."""
    from curate.pipeline import prepare_clips, select_videos, write_outputs

    videos, failures, num_read = select_videos(p, cfg, resume)
    planned, more_failures = prepare_clips(videos, cfg, clip_recipe())
    # the seam for the model stages: every clip of every scale of a video, before it is cut
    annotated, annotate_failures = annotate(planned, cfg)
    return write_outputs(p, annotated, failures + more_failures + [annotate_failures], num_read, cfg, resume)


def main(argv=None) -> int:
    from curate.run import main_for_recipe

    return main_for_recipe(NAME, argv)


if __name__ == "__main__":
    sys.exit(main())
