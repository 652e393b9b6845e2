"""Bundled search spaces (YAML), shipped as package data; see autoedge.space.registry."""
