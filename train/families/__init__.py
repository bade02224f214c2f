"""Model families beside VidLA (DESIGN.md: a family gives its config, builder, weight loader, the batch
it needs and its objectives)."""
