"""Errors meant for people.

A :class:`GanforgeError` is a user mistake or an environment problem (a missing data set,
an unknown config key, a corrupt checkpoint). The CLI prints its message as one line and
exits non-zero without a traceback. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations


class GanforgeError(Exception):
    """A problem the user can fix; its message says what was wrong and what is accepted."""


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``" (did you mean 'x'?)"`` when a close match exists, else ``""``."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class TrainingDiverged(GanforgeError):
    """A loss or weight became NaN or infinite during training."""


class TrainingUnhealthy(GanforgeError):
    """The health monitor's recover policy ran out of retries (or had nothing to roll back to)."""
