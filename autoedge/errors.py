"""The one exception root of autoedge; the CLI turns an AutoEdgeError into its `exit_code` (2)."""

from __future__ import annotations

import errno

#: errno values that mean "the disk (or the quota, or the file-size limit) is full".
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class AutoEdgeError(Exception):
    """Bad user input or an unusable environment; the message says what to fix."""

    exit_code = 2


class SpaceError(AutoEdgeError):
    """A search-space file is missing, malformed or names something unknown."""


class CandidateError(AutoEdgeError):
    """A candidate's genes are malformed or do not exist in its search space."""


class CompressionError(AutoEdgeError):
    """A compression setting cannot be applied to the given model."""


class ExportError(AutoEdgeError):
    """A model could not be exported to ONNX or does not run in ONNX Runtime."""


class DataError(AutoEdgeError):
    """A dataset is missing, unreadable, or not in the expected layout."""


class TrainingError(AutoEdgeError):
    """Training could not produce a usable model (the loss diverged or became NaN)."""


class TeacherError(AutoEdgeError):
    """A teacher model is missing, unreadable, unsafe, or does not fit the dataset."""


class RunError(AutoEdgeError):
    """A run folder is missing, locked, damaged, or not an autoedge run."""


class StorageError(RunError):
    """The run folder cannot be written (the disk is full); what was committed is kept."""

    exit_code = 1


class SearchError(AutoEdgeError):
    """A search cannot start or continue as configured (bad budget, objective, constraint)."""


class TargetError(AutoEdgeError):
    """A target is unknown, cannot run a precision, or its device/agent cannot be reached."""


class DeviceError(AutoEdgeError):
    """A `--device` that is malformed or that this machine cannot give (no such GPU)."""


class VerificationError(AutoEdgeError):
    """An exported model does not deliver what was promised (accuracy, hash, latency)."""

    exit_code = 1


def disk_full_cause(exc: BaseException) -> str | None:
    """What says the disk is full in `exc` or the exceptions it was raised from (an OSError
    with ENOSPC/EDQUOT/EFBIG, or SQLite's "database or disk is full"); None if nothing does."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return e.strerror or str(e)
        if "database or disk is full" in str(e):
            return "database or disk is full"
        e = e.__cause__ or e.__context__
    return None
