"""Error and warning types shared by the whole suite.

The CLI maps :class:`BadInputError` to exit status 2 and any other :class:`ParamispError` to exit
status 1, always printing the message as a single line.
"""

from __future__ import annotations


class ParamispError(Exception):
    """A failure the user should read as one line (exit status 1 in the CLI)."""


class BadInputError(ParamispError):
    """The input itself cannot be used: unsupported, corrupt or inconsistent (exit status 2)."""


class DamagedWeightsError(BadInputError):
    """A weights file whose values are not finite (NaN or Inf): damaged, or saved by a training run that diverged."""


class MetadataWarning(UserWarning):
    """A metadata value was missing, implausible or replaced by a fallback."""
