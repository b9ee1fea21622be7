"""One exception hierarchy for user errors, each carrying a fix hint.

Bad input is an exception (rendered by the CLI as one line, exit code 2); an infeasible plan is a
*value* (a reason code), never an exception. Modelled on httpx's ``_exceptions.py`` tree and
SkyPilot's "To fix:" hints.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class XpuplanError(Exception):
    """Base of every error xpuplan raises on purpose.

    ``message`` says what is wrong (and where), ``hint`` how to fix it.
    """

    def __init__(self, message: str, hint: str | None = None, where: str | None = None) -> None:
        self.message = message
        self.hint = hint
        self.where = where
        super().__init__(self.one_line())

    def one_line(self) -> str:
        head = f"{self.where}: {self.message}" if self.where else self.message
        return f"{head}. {self.hint}" if self.hint else head

    def __str__(self) -> str:  # the where and hint a caller set after raising (a file's line)
        return self.one_line()


class InputError(XpuplanError):
    """A value given by the user is malformed or out of range."""


class UnknownNameError(InputError):
    """A chip, system, model or other id is not in the catalog."""

    def __init__(self, kind: str, name: str, known: Iterable[str], where: str | None = None) -> None:
        known_list = sorted(set(known))
        close = difflib.get_close_matches(name.lower(), [k.lower() for k in known_list], n=3, cutoff=0.5)
        lookup = {k.lower(): k for k in known_list}
        if close:
            hint = "Did you mean " + " or ".join(f"'{lookup[c]}'" for c in close) + "?"
        else:
            hint = f"Run 'xpuplan {kind_command(kind)}' to list them."
        self.kind = kind
        self.name = name
        self.suggestions = [lookup[c] for c in close]
        super().__init__(f"unknown {kind} '{name}'", hint, where)


def kind_command(kind: str) -> str:
    return {
        "chip": "catalog chips",
        "system": "catalog systems",
        "model": "model list",
        "backend": "calibrate --help",
    }.get(kind, "catalog chips")


class DataError(XpuplanError):
    """A data file (catalog record, case file, scenario, config.json) is broken."""


class ConfigError(DataError):
    """A model configuration (e.g. a Hugging Face config.json) cannot be used."""


class MeasurementError(XpuplanError):
    """A measurement cannot be trusted: the figures did not settle (a busy machine) or a fit
    misses its own points by more than the stated bound. Nothing is written."""
