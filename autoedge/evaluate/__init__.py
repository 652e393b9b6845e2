"""autoedge.evaluate."""
