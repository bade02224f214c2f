"""RunConfig: everything a recipe run is configured by (the command line builds it, curate.beam.recipe
and the recipes in dags/ read it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from curate.files import join
from curate.media.cut import CutConfig
from curate.media.download import DownloadConfig
from curate.media.filter import FilterConfig
from curate.output.write import ShardConfig


@dataclass(frozen=True)
class RunConfig:
    recipe: str  # "hdvila" or "vidla"
    input: str  # a manifest file or a yt-dlp download folder (local path or file:// URL)
    output: str  # the output directory (local, or any filesystem Beam knows, e.g. gs://)
    id_column: Optional[str] = None  # manifests: the column holding the video id
    url_column: Optional[str] = None  # manifests: the column holding the URL
    filter: object = None  # curate.media.filter.FilterConfig (None: its defaults)
    # curate.media.download.DownloadConfig (None: files under DIR/.downloads, or for a remote DIR in a
    # scratch folder on each worker's disk; deleted once a video's clips are staged)
    download: object = None
    probe_dir: Optional[str] = None  # where the probe keeps info jsons, any Beam path (None: DIR/.probe)
    asr: object = None  # curate.models.asr.AsrConfig for videos without subtitles (None: its defaults)
    punctuator: Optional[str] = None  # punctuators model for unpunctuated text (None: pause-based)
    # the largest subtitle file read (None: curate.text.subtitles.MAX_SUBTITLE_BYTES); a larger one,
    # or a path that is not a regular file, fails its video
    max_subtitle_bytes: Optional[int] = None
    use_given_spans: bool = True  # clips given by the source (HD-VILA release, Panda-70M) replace planning
    # add the "video" scale: whole videos or windows of at most this many seconds (seed 003); None: off
    video_seconds: Optional[float] = None
    cut: CutConfig = field(default_factory=CutConfig)
    shards: ShardConfig = field(default_factory=ShardConfig)
    retry_failed: bool = False  # redo the videos earlier runs into `output` dropped; accepts a changed input
    annotate: object = None  # curate.models.config's config or parsed args (vidla); None: no model stages
    index_file: bool = True  # also write DIR/clips.parquet (the index is the shards' sidecars either way)
    quiet: bool = False  # no progress display on local runners (curate.progress); not an output setting

    def download_config(self):
        return self.download or DownloadConfig(output_dir=join(self.output, ".downloads"))

    def filter_config(self):
        return self.filter or FilterConfig()
