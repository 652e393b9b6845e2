"""autoedge.cli."""
