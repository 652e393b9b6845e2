"""Compression operators (pure functions on real torch modules) and the model builder."""
