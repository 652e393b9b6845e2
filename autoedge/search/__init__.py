"""autoedge.search."""
