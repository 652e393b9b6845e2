"""autoedge.results."""
