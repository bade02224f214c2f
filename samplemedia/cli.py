"""``python -m curate make-media``: write a folder of sample videos (curate/__main__.py maps the
command to this module)."""

from __future__ import annotations

import argparse

from samplemedia.folder import MAIN_SUBTITLES, make_sample_folder
from samplemedia.video import BACKGROUNDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, help="folder to write the videos into")
    parser.add_argument("--num-videos", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each video (10 to 600)")
    parser.add_argument("--background", choices=BACKGROUNDS, default="shapes")
    parser.add_argument(
        "--subtitle",
        choices=MAIN_SUBTITLES,
        default="auto_vtt",
        help="which subtitle the folder holds as <id>.en.<ext>",
    )
    parser.add_argument("--seed", type=int, default=0)


def main(args: argparse.Namespace) -> int:
    videos = make_sample_folder(
        args.output,
        args.num_videos,
        seconds=args.seconds,
        seed=args.seed,
        background=args.background,
        main_subtitle=args.subtitle,
    )
    for v in videos:
        print(f"{v.media_path}\t{v.duration:.1f}s\t{len(v.sentences)} sentences")
    return 0
