"""Curation: YouTube video lists -> WebDataset shards of multi-scale clips with aligned text."""
