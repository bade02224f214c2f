"""Names vulture (scripts/lint.sh) reports as unused that a framework or an interface passes in.

Run: vulture curate train schemas dags samplemedia vulture_whitelist.py --min-confidence 80
"""

# Beam's ModelHandler.run_inference(batch, model, inference_args): the handlers take no extra arguments
inference_args  # curate/beam/models.py: CaptionHandler / SummaryHandler.run_inference

# the eval interface's encode_video(frames, **fields): VIMPAC ignores the second window's fields
second_window  # train/families/vimpac/model.py: Vimpac.encode_video

# webdataset's opener signature gopen(url, mode, bufsize, **kw): fsspec picks its own buffering
bufsize  # train/data/shards.py: _fsspec_open

# DataLoader's worker_init_fn(worker_id)
worker_id  # train/data/shards.py: _ignore_sigterm
