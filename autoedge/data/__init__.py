"""autoedge.data."""
