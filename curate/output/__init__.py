"""A run's output directory: staging, WebDataset shards, clips.parquet, failures.jsonl, stats
(write), what a rerun can skip (resume), and report.md with its plots (report). No Beam."""
