"""``python -m curate gallery DIR``: a static HTML page to look at a curation run's clips.

Writes DIR/gallery/index.html (one self-contained page: inline CSS, JS and data), the sampled clips and
their poster frames under DIR/gallery/media/, and the run's plots under DIR/gallery/plots/. The page
fetches nothing from the network and opens from disk; ``--serve`` serves it over HTTP as well.

Clips are sampled without reading the whole index: the partitions' row counts come from their
Parquet footers, the sampled rows are chosen among them, then each partition holding a sampled row is
read once (one partition in memory at a time), and each shard's tar is read once for their mp4 files.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import sys
import tarfile
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.files import _local, is_local
from curate.output.failures import parse_failure_line
from curate.output.index import SHARDS, DamagedPartition, partition_paths, read_partition
from curate.output.report import PLOTS

GALLERY = "gallery"
MEDIA = "media"
TEMPLATE = Path(__file__).with_name("gallery_page.html")
CARD_COLUMNS = [
    "key",
    "video_id",
    "scale",
    "start",
    "end",
    "duration",
    "subtitle",
    "sentences",
    "caption",
    "subtitle_summary",
    "frame_captions",
    "frame_times",
    "category",
    "shard",
    "url",
]
FAILURE_ROWS_PER_GROUP = 200  # rows listed per (stage, reason); the group's count is always exact
POSTER_WIDTH = 320


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="output directory of a curation run (local)")
    parser.add_argument(
        "--sample",
        type=int,
        default=100,
        metavar="N",
        help="clips shown, sampled uniformly from the index (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default %(default)s)")
    parser.add_argument(
        "--serve", action="store_true", help="then serve DIR/gallery over HTTP (Python's http.server) until Ctrl-C"
    )
    parser.add_argument("--port", type=int, default=8000, help="port for --serve (default %(default)s)")


def main(args: argparse.Namespace) -> int:
    if not is_local(args.directory):
        raise SystemExit(
            f"error: {args.directory}: the gallery is written into a local output "
            "directory; copy the run (or some of its shards) to a local folder first"
        )
    if args.sample < 1:
        raise SystemExit(f"error: --sample must be >= 1, got {args.sample}")
    out = os.path.abspath(_local(args.directory))
    if not os.path.isdir(os.path.join(out, "shards")):
        raise SystemExit(f"error: {args.directory} has no shards/ folder (not the output of `curate run`)")
    page = build_gallery(out, args.sample, seed=args.seed)
    print(f"gallery of {page['cards']} clips: {page['path']}")
    if args.serve:
        serve(os.path.dirname(page["path"]), args.port)
    return 0


def build_gallery(out_dir: str, sample: int, *, seed: int = 0) -> dict:
    """Write DIR/gallery/ and return {"path": index.html, "cards": number of clip cards}."""
    gallery = os.path.join(out_dir, GALLERY)
    media = os.path.join(gallery, MEDIA)
    if os.path.isdir(media):  # a new sample replaces the old one
        shutil.rmtree(media)
    os.makedirs(media)
    sizes = _partition_sizes(out_dir)
    rows = sample_rows(out_dir, sample, seed, sizes=sizes)
    cards = []
    for shard, shard_rows in _by_shard(rows).items():
        cards.extend(_extract_clips(out_dir, shard, shard_rows, media))
    cards.sort(key=lambda c: c["key"])
    data = {
        "title": os.path.basename(out_dir.rstrip(os.sep)) or out_dir,
        "cards": cards,
        "stats": _read_json(os.path.join(out_dir, "stats.json")),
        "failures": failure_groups(os.path.join(out_dir, "failures.jsonl")),
        "plots": _copy_plots(out_dir, gallery),
        "sampled_from": sum(n for _, n in sizes),
    }
    path = os.path.join(gallery, "index.html")
    _write_page(path, data)
    return {"path": path, "cards": len(cards)}


# ---------------------------------------------------------------------------------------------
# sampling the index, one partition at a time


def _partition_sizes(out_dir: str) -> list:
    """(partition path, rows) from the Parquet footers alone."""

    sizes = []
    for path in partition_paths(out_dir):
        try:
            sizes.append((path, pq.ParquetFile(path).metadata.num_rows))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {path} cannot be read as an index partition: {exc}") from None
    return sizes


def sample_rows(out_dir: str, sample: int, seed: int = 0, *, sizes=None) -> list:
    """Up to `sample` index rows (dicts of CARD_COLUMNS) chosen uniformly among all partitions' rows
    (`sizes`: _partition_sizes, when already read)."""

    sizes = _partition_sizes(out_dir) if sizes is None else sizes
    total = sum(n for _, n in sizes)
    chosen = sorted(random.Random(seed).sample(range(total), min(sample, total)))
    rows, first, i = [], 0, 0
    for path, n in sizes:
        wanted = []
        while i < len(chosen) and chosen[i] < first + n:
            wanted.append(chosen[i] - first)
            i += 1
        first += n
        if not wanted:
            continue
        try:
            table = read_partition(path, columns=CARD_COLUMNS)
        except DamagedPartition as exc:
            raise SystemExit(f"error: {exc}") from None
        rows.extend(table.take(pa.array(wanted)).to_pylist())
    return rows


def _by_shard(rows: list) -> dict:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["shard"]].append(row)
    return grouped


# ---------------------------------------------------------------------------------------------
# media: each shard's tar read once, a poster frame per clip


def _extract_clips(out_dir: str, shard: str, rows: list, media: str) -> list:
    """Copy the rows' mp4 files out of DIR/shards/<shard>.tar and write their posters; the cards."""

    wanted = {f"{row['key']}.mp4": row for row in rows}
    name = shard[: -len(".tar")] if shard.endswith(".tar") else shard  # the column names the tar
    tar_path = os.path.join(out_dir, SHARDS, f"{name}.tar")
    found = set()
    try:
        with tarfile.open(tar_path) as tar:
            for member in tar:
                row = wanted.get(member.name)
                if row is None or not member.isfile():
                    continue
                name = _file_name(row["key"])
                with tar.extractfile(member) as src, open(os.path.join(media, name + ".mp4"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                found.add(member.name)
    except (OSError, tarfile.TarError) as exc:  # its cards say so; the rest of the gallery is still useful
        print(f"warning: {tar_path} cannot be read ({exc}): its clips are shown without video", file=sys.stderr)
    cards = []
    for member_name, row in wanted.items():
        name = _file_name(row["key"])
        has_video = member_name in found
        base = os.path.join(media, name)
        poster = has_video and write_poster(base + ".mp4", base + ".jpg")
        cards.append(_card(row, f"{MEDIA}/{name}.mp4" if has_video else "", f"{MEDIA}/{name}.jpg" if poster else ""))
    return cards


def _file_name(key: str) -> str:
    """Keys are file-name safe already (schemas.clip_key); this guards the page against any other."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key).lstrip(".") or "clip"


def write_poster(video: str, jpeg: str) -> bool:
    """The clip's first frame as a JPEG (PyAV, in process: an ffmpeg per clip would cost more than the
    decode). False when the file has no decodable frame."""
    import av  # heavy: PyAV, only where media is decoded

    try:
        with av.open(video) as container:
            frame = next(container.decode(video=0))
            height = max(2, round(frame.height * POSTER_WIDTH / frame.width / 2) * 2)
            frame = frame.reformat(width=POSTER_WIDTH, height=height, format="yuvj420p")
            encoder = av.CodecContext.create("mjpeg", "w")
            encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "yuvj420p"
            encoder.time_base = frame.time_base or Fraction(1, 25)
            packets = encoder.encode(frame) + encoder.encode(None)
    except (av.error.FFmpegError, StopIteration, ValueError, ZeroDivisionError):
        return False
    with open(jpeg, "wb") as f:
        for packet in packets:
            f.write(bytes(packet))
    return True


def _card(row: dict, video: str, poster: str) -> dict:
    sentences = [{"text": s["text"], "start": s["start"], "end": s["end"]} for s in row["sentences"] or []]
    return {
        "key": row["key"],
        "video_id": row["video_id"],
        "scale": row["scale"],
        "start": row["start"],
        "end": row["end"],
        "duration": row["duration"],
        "subtitle": row["subtitle"] or "",
        "sentences": sentences,
        "caption": row["caption"] or "",
        "subtitle_summary": row["subtitle_summary"] or "",
        "frame_captions": list(zip(row["frame_times"] or [], row["frame_captions"] or [])),
        "category": row["category"] or "unknown",
        "shard": row["shard"],
        "url": row["url"] or "",
        "video": video,
        "poster": poster,
    }


# ---------------------------------------------------------------------------------------------
# failures, stats and plots


def failure_groups(path: str) -> list:
    """failures.jsonl streamed into groups by (stage, reason), largest first: the exact count and up
    to FAILURE_ROWS_PER_GROUP rows (video, key, detail) each."""

    groups: dict = {}
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                failure = parse_failure_line(line, f"{path}:{number}")
            except ValueError:
                failure = None
            if failure is None:
                continue
            group = groups.setdefault((failure.stage, failure.reason), {"count": 0, "rows": []})
            group["count"] += 1
            if len(group["rows"]) < FAILURE_ROWS_PER_GROUP:
                group["rows"].append({"video_id": failure.video_id, "key": failure.key, "detail": failure.detail})
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1]["count"], kv[0]))
    return [{"stage": s, "reason": r, **g} for (s, r), g in ordered]


def _read_json(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _copy_plots(out_dir: str, gallery: str) -> list:
    src = os.path.join(out_dir, PLOTS)
    if not os.path.isdir(src):
        return []
    dst = os.path.join(gallery, PLOTS)
    os.makedirs(dst, exist_ok=True)
    names = sorted(n for n in os.listdir(src) if n.endswith(".png"))
    for name in names:
        shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
    return [f"{PLOTS}/{n}" for n in names]


# ---------------------------------------------------------------------------------------------
# the page


def _write_page(path: str, data: dict) -> None:
    # a "<" inside the <script> could end it early ("</script>" or "<!--" in a subtitle); "<" appears
    # only inside JSON strings, where \u003c means the same
    blob = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    html = TEMPLATE.read_text(encoding="utf-8").replace("/*GALLERY_DATA*/null", blob)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(html)
    os.replace(tmp, path)


def serve(folder: str, port: int) -> None:
    import http.server  # only `curate gallery --serve` needs it (0.1 s to import)

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=folder)
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise SystemExit(f"error: cannot serve on port {port}: {exc} (choose another with --port)") from None
    print(f"serving {folder} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
