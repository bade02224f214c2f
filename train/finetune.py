"""Fine-tuning on the retrieval benchmarks (VidLA appendix A.2): ``python -m train fit --dataset NAME``.

The training split of MSR-VTT, DiDeMo, ActivityNet Captions, MSVD or VATEX is read by the loaders
``train eval`` uses (train.datasets, the user's annotation file and local videos) and written once as
shards in the curation layout (RUN/benchmark/shards/*.tar, one sample per video: the video file's bytes
and a json with all its texts), so the shared loader, shuffling and exact resume train on it unchanged.
Each epoch a video is paired with one of its captions, drawn with the run's seed (``texts`` in the
json; train.data.shards.prepare_sample); DiDeMo and ActivityNet train paragraph-to-video by default
(all sentences of a video joined into one text), as VidLA evaluates them.

The fine-tuning presets (``vidla-b32-finetune``, ``vidla-b16-finetune``) take 32 frames; a 12-frame
checkpoint starts them through ``init_from``: its temporal embedding is interpolated to 32 frames
(VidLA.adapt_checkpoint_tensors) and ``mst_reference_frames=12`` keeps each [MST] level on the same
moments of the clip (train.model.attention.TokenLayout).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path

FOLDER = "benchmark"  # RUN/benchmark: the shards a fine-tuning run writes from the annotations


def write_benchmark_shards(data, out_dir, per_shard: int = 1000) -> Path:
    """``data`` (a train.datasets.RetrievalSet) as shards in ``out_dir``: one sample per video with the
    video file's bytes and {"video_id", "subtitle": its first text, "texts": all its texts}."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas.records import safe_id

    out = Path(out_dir)
    texts_of_video: dict = {}
    for text, video in zip(data.texts, data.video_of_text):
        texts_of_video.setdefault(video, []).append(text)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    rows = []
    videos = [v for v in range(len(data.video_ids)) if texts_of_video.get(v)]
    for number, first in enumerate(range(0, len(videos), per_shard)):
        name = f"{number:05d}.tar"
        shard_rows = []
        partial = out / "shards" / f".{name}.partial"
        with tarfile.open(partial, "w") as tar:
            for v in videos[first : first + per_shard]:
                key = f"{data.name}_{v:07d}_{safe_id(data.video_ids[v])}"
                meta = {
                    "video_id": data.video_ids[v],
                    "subtitle": texts_of_video[v][0],
                    "texts": texts_of_video[v],
                }
                for suffix, payload in (
                    ("mp4", Path(data.video_paths[v]).read_bytes()),
                    ("json", json.dumps(meta).encode()),
                ):
                    info = tarfile.TarInfo(f"{key}.{suffix}")
                    info.size = len(payload)
                    tar.addfile(info, fileobj=io.BytesIO(payload))
                shard_rows.append(
                    {
                        "key": key,
                        "video_id": data.video_ids[v],
                        "num_texts": len(texts_of_video[v]),
                        "shard": name,
                    }
                )
        partial.replace(out / "shards" / name)
        pq.write_table(pa.Table.from_pylist(shard_rows), out / "shards" / name.replace(".tar", ".parquet"))
        rows += shard_rows
    pq.write_table(pa.Table.from_pylist(rows), out / "clips.parquet")
    return out


def prepare_benchmark(run_dir, dataset: str, annotations: str, videos: str, mode=None, split=None) -> Path:
    """RUN/benchmark written from the annotations (by rank 0; other ranks wait for it); returns it.
    Written once: a resumed run trains on the same shards."""
    from train import datasets

    folder = Path(run_dir) / FOLDER
    if (folder / "clips.parquet").exists():
        return folder
    if int(os.environ.get("RANK", "0")) != 0:
        while not (folder / "clips.parquet").exists():
            time.sleep(5)
        return folder
    paragraph = (mode or ("paragraph" if dataset in datasets.PARAGRAPH_BY_DEFAULT else "clip")) == "paragraph"
    kwargs = {"split": split} if dataset == "msvd" else {}
    data = datasets.LOADERS[dataset](annotations, videos, paragraph=paragraph, **kwargs)
    tmp = folder.with_name(f".{FOLDER}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    write_benchmark_shards(data, tmp)
    tmp.replace(folder)
    return folder
