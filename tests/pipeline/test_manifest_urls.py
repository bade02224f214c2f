"""Manifests of direct media URLs (file:// and http://) with their own subtitle files: the probe
measures what yt-dlp's generic extractor leaves out, and the manifest's subtitle survives the download."""

from __future__ import annotations

import csv
import shutil

import pyarrow.parquet as pq
import pytest
from factories import FakeYouTube

from curate.__main__ import main
from samplemedia import make_sample_video, sentences_for


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """Two videos as plain files (no yt-dlp folder layout: no info json beside them)."""
    root = tmp_path_factory.mktemp("mirror")
    out = {}
    for n, video_id in enumerate(("directfile", "directhttp")):
        sample = make_sample_video(root / "made", video_id, sentences_for(16, seed=20 + n), min_duration=16)
        media = root / f"{video_id}.mp4"
        subtitle = root / "subs" / f"{video_id}.vtt"
        subtitle.parent.mkdir(exist_ok=True)
        shutil.copy(sample.media_path, media)
        shutil.copy(sample.subtitle_path, subtitle)
        out[video_id] = (media, subtitle)
    return root, out


def test_direct_urls_with_manifest_subtitles_are_curated(mirror, tmp_path):
    root, videos = mirror
    with FakeYouTube() as server:
        http_url = server.add("/media/directhttp.mp4", videos["directhttp"][0])
        manifest = root / "manifest.csv"
        with open(manifest, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["video_id", "url", "subtitle_path"])
            writer.writerow(["directfile", videos["directfile"][0].as_uri(), "subs/directfile.vtt"])
            writer.writerow(["directhttp", http_url, "subs/directhttp.vtt"])
        out = tmp_path / "out"
        assert (
            main(["run", "--recipe", "hdvila", "--input", str(manifest), "--output", str(out), "--cut-mode", "copy"])
            == 0
        )
    clips = pq.read_table(out / "clips.parquet").to_pylist()
    failures = (out / "failures.jsonl").read_text() if (out / "failures.jsonl").exists() else ""
    assert {c["video_id"] for c in clips} == {"directfile", "directhttp"}, failures
    for video_id, (_, subtitle) in videos.items():
        said = " ".join(c["subtitle"] for c in clips if c["video_id"] == video_id).lower()
        assert said and all(word in subtitle.read_text().lower() for word in said.replace(".", "").split()[:5])
        assert {c["source_height"] for c in clips if c["video_id"] == video_id} == {720}
