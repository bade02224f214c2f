"""The VidLA trainer: data loading, model, loss, loop and evaluation over curated shards."""
