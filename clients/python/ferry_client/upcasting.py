"""Upcasters: how an event published under an old schema version becomes the current one.

Events stay in the log as they were published; a consumer reads them, retried or replayed,
years later. An upcaster takes the JSON document of one version of a type and returns the
next version's (``(type, v) -> (type, v + 1)``); decoding applies them as a chain, so a handler
only ever sees the version its class declares. A version with no step to the next fails
clearly (:class:`MissingUpcaster`, and the worker dead-letters the event naming the step),
never silently.

>>> @upcaster("OrderCreated", 1)
... def split_total(document):
...     total = document.pop("totalCents", 0)
...     return {**document, "netCents": total, "taxCents": 0, "currency": "EUR"}

The rules for changing an event are in ``docs/event-versioning.md`` of the Ferry repository.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

Document = Any
Upcaster = Callable[[Document], Document]


class MissingUpcaster(ValueError):
    """No upcaster leads from a version of a type to the next one."""

    def __init__(self, type_name: str, version: int, target: int):
        self.type_name, self.version, self.target = type_name, version, target
        super().__init__(f"no upcaster for {type_name} from schema version {version} to {version + 1} "
                         f"(the handler reads version {target})")


class Upcasters:
    """A registry of upcasters by ``(type name, from version)``."""

    def __init__(self) -> None:
        self._steps: Dict[Tuple[str, int], Upcaster] = {}

    def register(self, type_name: str, from_version: int, function: Upcaster) -> None:
        """Add the step from ``from_version`` to ``from_version + 1`` of ``type_name``."""
        if from_version < 1:
            raise ValueError(f"schema versions start at 1; got {from_version}")
        self._steps[(type_name, from_version)] = function

    def step(self, type_name: str, from_version: int) -> Optional[Upcaster]:
        return self._steps.get((type_name, from_version))

    def upcast(self, type_name: str, document: Document, version: int, target: int) -> Document:
        """``document`` of ``version`` brought to ``target`` through every step in between."""
        while version < target:
            step = self._steps.get((type_name, version))
            if step is None:
                raise MissingUpcaster(type_name, version, target)
            document = step(document)
            version += 1
        return document

    def missing_steps(self, type_name: str, version: int, target: int) -> list:
        """The steps absent between ``version`` and ``target`` (empty when the chain is whole)."""
        return [v for v in range(version, target) if (type_name, v) not in self._steps]


#: The upcasters used when none are given (``@upcaster`` registers here).
DEFAULT_UPCASTERS = Upcasters()


def upcaster(type_name: str, from_version: int, registry: Optional[Upcasters] = None) -> Callable[[Upcaster], Upcaster]:
    """Decorator: the function is the step from ``from_version`` to the next version of
    ``type_name`` (in ``registry``, default :data:`DEFAULT_UPCASTERS`)."""

    def register(function: Upcaster) -> Upcaster:
        (registry or DEFAULT_UPCASTERS).register(type_name, from_version, function)
        return function

    return register
