"""autoedge.hardware."""
