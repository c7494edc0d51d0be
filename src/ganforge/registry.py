"""Explicit name -> object registries (``MODELS``, ``LOSSES``, ``DATASETS``).

A registry is a plain dict that refuses duplicate names and answers unknown names with an
error listing the known ones. CLI choices and config enums are read from its keys.
"""

from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from .errors import GanforgeError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of entries of one kind (``kind`` names it in error messages)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        if not isinstance(name, str):
            known = ", ".join(sorted(self._entries))
            raise GanforgeError(f"{self.kind} must be a name, got {name!r}; known: {known}")
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise GanforgeError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, list(self._entries))}; known: {known}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
