"""Data loading for the trainer: sampled-frame decoding, spatial transforms, and the shard loader."""
