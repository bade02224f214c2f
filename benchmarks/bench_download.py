"""What the per-video download deadline costs: the download stage (Downloader: every yt-dlp attempt in a
child process that is killed at the deadline) against the same yt-dlp download in the worker's own
process (no deadline possible), both from a local HTTP server.

    python benchmarks/bench_download.py [--videos 6] [--seconds 30]

Prints videos/s of both and their ratio (stage / in-process); the difference is the child's start
(a fork of a forkserver that has yt-dlp imported already, see curate.media.deadline), paid once per
video.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from curate.media.download import DownloadConfig, Downloader, _download_attempt, video_dir  # noqa: E402
from samplemedia import make_sample_video, sentences_for  # noqa: E402
from schemas import VideoMeta  # noqa: E402


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder: str) -> tuple:
    handler = functools.partial(_QuietHandler, directory=folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def hosted_infos(sample, base_url: str, out_dir: Path, n: int) -> list:
    """n info jsons (distinct ids) whose one mp4 format is the sample served over HTTP."""
    info = json.loads(Path(sample.info_path).read_text())
    info["formats"] = [
        {
            "format_id": "22",
            "ext": "mp4",
            "width": 1280,
            "height": 720,
            "vcodec": "avc1",
            "acodec": "mp4a.40.2",
            "protocol": "http",
            "url": f"{base_url}/{Path(sample.media_path).name}",
        }
    ]
    info["automatic_captions"], info["subtitles"] = {}, {}
    for key in ("requested_subtitles", "_filename", "filepath", "format_id", "requested_formats"):
        info.pop(key, None)
    paths = []
    for i in range(n):
        path = out_dir / f"v{i}.info.json"
        path.write_text(json.dumps(dict(info, id=f"v{i}", epoch=int(time.time()))))
        paths.append(str(path))
    return paths


def in_process(cfg: DownloadConfig, infos: list) -> float:
    started = time.perf_counter()
    for i, path in enumerate(infos):
        folder = video_dir(cfg, f"v{i}")
        template = str(folder / f"{folder.name}.%(ext)s")
        _download_attempt(cfg, json.loads(Path(path).read_text()), template, "")
    return time.perf_counter() - started


def stage(cfg: DownloadConfig, infos: list) -> float:
    downloader = Downloader(cfg)
    started = time.perf_counter()
    for i, path in enumerate(infos):
        downloader(VideoMeta(f"v{i}", "", info_path=path))
    return time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-download-"))
    try:
        sample = make_sample_video(
            work / "media", "benchvid", sentences_for(args.seconds, seed=1), min_duration=args.seconds
        )
        server, base_url = serve(str(Path(sample.media_path).parent))
        infos = hosted_infos(sample, base_url, work, args.videos)
        timings = {}
        for name, run in (("in-process", in_process), ("stage", stage), ("in-process again", in_process)):
            out = work / name.replace(" ", "-")
            timings[name] = run(DownloadConfig(output_dir=str(out)), infos)
            shutil.rmtree(out)
        server.shutdown()
        size_mb = os.path.getsize(sample.media_path) / 1e6
        baseline = min(timings["in-process"], timings["in-process again"])
        print(f"{args.videos} downloads of a {args.seconds:.0f} s 720p video ({size_mb:.1f} MB) from 127.0.0.1")
        for name in ("in-process", "stage"):
            t = timings[name] if name == "stage" else baseline
            print(f"  {name:<11} {args.videos / t:6.2f} videos/s  ({t / args.videos * 1000:.0f} ms each)")
        print(
            f"  stage / in-process: {baseline / timings['stage']:.2f}  "
            f"(deadline overhead {(timings['stage'] - baseline) / args.videos * 1000:.0f} ms per video)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
