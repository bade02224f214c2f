"""Shard assignment without a global gather.

Staged videos travel as small write.ShardEntry records (id, clips, bytes). They are spread over
deterministic buckets by a hash of the video id, so many that each bucket holds about
SHARDS_PER_BUCKET shards' worth; each bucket is packed on its own (in order of video id, under both
shard limits, a video never split) and the shards are numbered after the buckets before them. What
meets on one worker is the run's total size (two numbers) and one shard count per bucket, never the
videos. A run that fits in one bucket packs exactly as one global sort would.
"""

from __future__ import annotations

import math
import zlib

import apache_beam as beam

from curate.output import write

SHARDS_PER_BUCKET = 64  # a bucket's last shard is partly filled: ~1/64 of the shards, at most


def num_buckets(total: tuple, config: write.ShardConfig) -> int:
    """Buckets for a run of `total` = (clips, bytes) under `config`."""
    clips, size = total
    per_bucket_clips = config.max_samples * SHARDS_PER_BUCKET
    per_bucket_bytes = config.max_bytes * SHARDS_PER_BUCKET
    return max(1, math.ceil(clips / per_bucket_clips), math.ceil(size / per_bucket_bytes))


def bucket_of(video_id: str, buckets: int) -> int:
    """The bucket of a video: the same on every worker and every run (not Python's salted hash)."""
    return zlib.crc32(video_id.encode("utf-8", "surrogatepass")) % buckets


class _TotalSize(beam.CombineFn):
    def create_accumulator(self):
        return 0, 0

    def add_input(self, acc, entry):
        return acc[0] + entry.num_clips, acc[1] + entry.num_bytes

    def merge_accumulators(self, accs):
        accs = list(accs)
        return sum(a[0] for a in accs), sum(a[1] for a in accs)

    def extract_output(self, acc):
        return acc


class _BucketOffsets(beam.CombineFn):
    """(bucket, shards) pairs -> {bucket: shards of the buckets before it}."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, pair):
        acc[pair[0]] = pair[1]
        return acc

    def merge_accumulators(self, accs):
        merged = {}
        for acc in accs:
            merged.update(acc)
        return merged

    def extract_output(self, acc):
        offsets, total = {}, 0
        for bucket in sorted(acc):
            offsets[bucket], total = total, total + acc[bucket]
        return offsets


def _pack_bucket(element, config: write.ShardConfig):
    bucket, entries = element
    for i, (_, videos) in enumerate(write.pack_shards(entries, config)):
        yield bucket, i, videos


class WriteShards(beam.PTransform):
    """``names = staged | WriteShards(out_dir, shard_config, first_index)`` over StagedVideo or
    ShardEntry records: shards numbered from first_index, each written where it lands (its clip files
    and manifests are read from DIR/.staging)."""

    def __init__(self, out_dir: str, config: write.ShardConfig, first_index: int):
        super().__init__()
        self._out_dir, self._config, self._first = out_dir, config, first_index

    def expand(self, staged):
        out_dir, config, first = self._out_dir, self._config, self._first
        entries = staged | "Entries" >> beam.Map(write.shard_entry)
        total = entries | "TotalSize" >> beam.CombineGlobally(_TotalSize())
        packed = (
            entries
            | "ToBuckets"
            >> beam.Map(lambda e, t: (bucket_of(e.video_id, num_buckets(t, config)), e), beam.pvalue.AsSingleton(total))
            | "ByBucket" >> beam.GroupByKey()
            | "PackBucket" >> beam.FlatMap(_pack_bucket, config)
        )
        offsets = (
            packed
            | "OneShard" >> beam.Map(lambda shard: (shard[0], 1))
            | "ShardsPerBucket" >> beam.CombinePerKey(sum)
            | "BucketOffsets" >> beam.CombineGlobally(_BucketOffsets())
        )
        return (
            packed
            | "NameShards"
            >> beam.Map(
                lambda shard, off: (write.shard_name(first + off[shard[0]] + shard[1]), shard[2]),
                beam.pvalue.AsSingleton(offsets),
            )
            | "SpreadShards" >> beam.Reshuffle()
            | "WriteShard" >> beam.MapTuple(lambda name, videos: write.write_shard(out_dir, name, videos))
        )
