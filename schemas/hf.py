"""The Hugging Face ``datasets`` features of a shard's samples, for
``load_dataset("webdataset", data_files=..., features=webdataset_features())``.

Without them ``datasets`` infers each json field's type from the first samples it reads, and a field
that is null there (``caption`` without a caption model, ``subtitle_summary`` of the scales that have
none) but text in a later shard fails the whole load with a cast error.
"""

from __future__ import annotations

import pyarrow as pa

from schemas.arrow import CLIP_SCHEMA


def json_schema() -> pa.Schema:
    """The Arrow schema of a shard's <key>.json members: a json is clip_to_row(clip), one index row."""
    return CLIP_SCHEMA


def webdataset_features(decode_video: bool = False):
    """``datasets.Features`` of a sample: mp4 (a Video; decoding it needs torchcodec), json, txt, and
    the builder's __key__ and __url__."""
    from datasets import Features, Value, Video

    return Features(
        {
            "mp4": Video(decode=decode_video),
            "json": Features.from_arrow_schema(json_schema()),
            "txt": Value("string"),
            "__key__": Value("string"),
            "__url__": Value("string"),
        }
    )
