"""Datasets as uint8 arrays: a registry of built-ins and image folders (numpy only)."""

from __future__ import annotations

from autoedge.data.dataset import ImageDataset, split_train_test
from autoedge.data.registry import DEFAULT_DATASET, get_dataset, list_datasets

__all__ = ["DEFAULT_DATASET", "ImageDataset", "get_dataset", "list_datasets", "split_train_test"]
