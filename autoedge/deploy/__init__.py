"""autoedge.deploy."""
