"""Typed errors of the library.

Only the CLI maps these to exit codes: every :class:`BadInput` (and subclass) is a usage / input problem
and exits 2 with one line; any other :class:`InfvsrError` raised while a clip runs is recorded against
that clip and the run goes on (exit 1 at the end).
"""


class InfvsrError(Exception):
    """Base class of every error this package raises on purpose."""


class BadInput(InfvsrError):
    """The user asked for something that cannot work (exit code 2, before heavy work)."""


class UnknownName(BadInput):
    """A method / metric / dataset name that is not registered."""


class WeightsNotFound(BadInput):
    """A weight file that a requested component needs is absent."""


class DatasetIntegrityError(BadInput):
    """A dataset file is missing, unreadable, corrupt, or does not match its manifest."""


class VideoError(InfvsrError):
    """A video could not be opened, decoded or written."""


class MethodError(InfvsrError):
    """A method failed while processing a clip."""
