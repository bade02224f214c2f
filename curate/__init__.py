"""Curation: YouTube video lists -> WebDataset shards of multi-scale clips with aligned text.

Layout (the steps of the papers as plain modules; the Beam wiring in one package that imports them):

    __main__.py, run.py, statscmd.py   the command line (``python -m curate run|stats|make-media|
                   hierarchical-testset``)
    config.py      RunConfig: what a recipe run is configured by
    recipes.py     the recipe registry: each recipe module of dags/ registers a Recipe
    errors.py      StageError, the one error type of the per-element functions
    files.py       paths and atomic file operations, local or on any Beam filesystem (gs://, s3://)
    sources.py     read manifests and yt-dlp download folders into VideoMeta records
    media/         probe.py filter.py download.py (deadline.py: its child processes) cut.py frames.py:
                   yt-dlp, ffmpeg, PyAV
    text/          subtitles -> words -> sentences -> alignment -> clip plans; transcripts.py: a
                   video's transcript and its Clip records; hierarchy.py: the hierarchical test set
    models/        asr.py caption.py summarize.py (faster-whisper, BLIP-2, LLM); config.py (their
                   options, device and dtype); check.py (validate a config before a run)
    output/        write.py (staging, shards), index.py (the index: one Parquet partition per shard,
                   clips.parquet), failures.py (records, which stand), summary.py (failures.jsonl,
                   stats.json), resume.py, report.py, lock.py (one run per output), settings.py (a
                   rerun under other settings is refused)
    beam/          the Beam wiring only: stages.py (ApplyStage, failure outputs), videos.py
                   (ReadSources, ProbeVideos, FilterVideos, DownloadVideos), transcripts.py
                   (MakeTranscripts, TranscribeAudio, PlanClips), models.py (RunInference handlers,
                   AnnotateClips), resume.py (Resume: resume as one join), shards.py
                   (WriteShards per hash bucket), finalize.py (Finalize: the summary files from
                   merged totals), recipe.py (select, prepare, cut, write, run_recipe)

Nothing outside curate.beam imports apache_beam or curate.beam (curate.files uses Beam's FileSystems
registry for remote paths, nothing else of Beam; statscmd.py runs curate.beam.finalize, recipes.py a
recipe's pipeline); there are no import cycles (tests/test_layout.py checks both; the import-linter
contracts of pyproject.toml, run by tests/test_layers.py, check the layers). The recipes in dags/
compose curate.beam. The test media of ``make-media`` is the top-level package samplemedia, which
curate never imports.
"""
