"""Annotation files of the public video-text benchmarks, in their real formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence


def write_msrvtt_1ka(path, video_ids: Sequence[str], captions: Sequence[str]) -> Path:
    """MSRVTT_JSFUSION_test.csv (CLIP4Clip's 1k-A split): key,vid_key,video_id,sentence."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "vid_key", "video_id", "sentence"])
        for i, (vid, cap) in enumerate(zip(video_ids, captions)):
            writer.writerow([f"ret{i}", f"msr{vid[5:]}", vid, cap])
    return Path(path)


def write_didemo(path, video_files: Sequence[str], sentences_per_video: Sequence[Sequence[str]]) -> Path:
    """DiDeMo test_data.json: a list of moments {video, times, description, ...}."""
    rows = []
    for video, sentences in zip(video_files, sentences_per_video):
        for j, text in enumerate(sentences):
            rows.append(
                {
                    "annotation_id": len(rows),
                    "video": video,
                    "description": text,
                    "times": [[j, j], [j, j + 1]],
                    "context": [j, j + 1],
                    "train_times": [[j, j]],
                    "dl_link": "https://example.invalid/" + video,
                    "num_segments": 6,
                }
            )
    Path(path).write_text(json.dumps(rows))
    return Path(path)


def write_activitynet(path, video_ids: Sequence[str], sentences_per_video: Sequence[Sequence[str]]) -> Path:
    """ActivityNet Captions val_1.json: {video_id: {duration, timestamps, sentences}}."""
    doc = {
        vid: {
            "duration": 10.0 * len(s),
            "timestamps": [[10.0 * j, 10.0 * j + 9] for j in range(len(s))],
            "sentences": [" " + t for t in s],
        }
        for vid, s in zip(video_ids, sentences_per_video)
    }
    Path(path).write_text(json.dumps(doc))
    return Path(path)


def write_msvd(path, clips: Sequence[tuple], captions_per_clip: Sequence[Sequence[str]]) -> Path:
    """MSR Video Description Corpus.csv: VideoID,Start,End,WorkerID,Source,AnnotationTime,Language,Description
    (a non-English row per clip checks the language filter)."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description"])
        for (vid, start, end), captions in zip(clips, captions_per_clip):
            for k, text in enumerate(captions):
                writer.writerow([vid, start, end, 1000 + k, "clean", 10, "English", text])
            writer.writerow([vid, start, end, 999, "unverified", 10, "German", "ein Satz"])
    return Path(path)


def write_vatex(path, video_ids: Sequence[str], captions_per_video: Sequence[Sequence[str]]) -> Path:
    """VATEX vatex_public_test_english_v1.1.json / validation json: [{videoID, enCap, chCap}]."""
    doc = [
        {"videoID": vid, "enCap": list(caps), "chCap": ["一个句子"] * len(caps)}
        for vid, caps in zip(video_ids, captions_per_video)
    ]
    Path(path).write_text(json.dumps(doc))
    return Path(path)
