"""The product's user-error classes: failures caused by what the user gave, not by a bug.

The ``twin`` CLI reports any :class:`InputError` as one line ``twin: error: <message>``
with exit status 2; every other exception is an internal error (exit 1 with the
traceback). The classes live in :mod:`physics` because physics, recon, learn and twin
all raise them and physics imports nothing of the others.

Each class also derives from :class:`ValueError`, so library callers that caught
``ValueError`` before keep working; the CLI, however, no longer treats a bare
``ValueError`` as the user's fault.

Messages start with the file or key at fault (``"<file or key>: <what>"``) and never
quote a file's contents.
"""

from __future__ import annotations


class InputError(ValueError):
    """Base class: something the user supplied is wrong (reported without a traceback)."""


class ScenarioError(InputError):
    """A scenario file or ``--set`` override is malformed; the message names the key."""


class InputFileError(InputError):
    """A file is missing, unreadable, truncated, or holds data of the wrong type, shape or content."""


class OptionError(InputError):
    """A command-line option or function argument has a wrong value."""


class ResourceError(InputError):
    """The work asked for would need more memory than the budget allows (``--max-memory``)."""


class ResultError(InputError):
    """The inputs, though each in range, led to a non-finite result; nothing was written."""
