"""The method registry: a dict ``name -> class`` filled by the ``@register`` decorator.

Every module under ``methods/`` is imported by :func:`discover`, so a new method file
appears in ``bench list`` with no other edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from bench.errors import BenchError


@dataclass(frozen=True)
class Entry:
    name: str
    cls: type
    home_protocol: str | None  # the protocol it runs on by default; None: every protocol
    family: str  # "baseline", "contrastive", "floor", ...
    tasks: tuple[str, ...] = ("ranking",)  # "ranking" (score) and/or "rating" (predict)
    trains_like: str | None = None  # another method whose fit this one's equals, bit for bit

    @property
    def summary(self) -> str:
        doc = (self.cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


REGISTRY: dict[str, Entry] = {}


def register(
    name: str,
    *,
    home_protocol: str | None = None,
    family: str = "baseline",
    tasks: tuple[str, ...] = ("ranking",),
    trains_like: str | None = None,
):
    """Class decorator: make ``cls`` available to the harness under ``name``.

    ``tasks``: "ranking" if the class implements ``score``, "rating" if it implements
    ``predict``; a method runs only on protocols of its tasks. ``trains_like``: a method
    whose fit and scores this one's equal on the same data and parameters (strategy2 is
    strategy1's pair rule on other data), so the runner fits the two once."""
    unknown = set(tasks) - {"ranking", "rating"}
    if unknown or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of ranking, rating; got {tasks}")

    def deco(cls: type) -> type:
        if name in REGISTRY and REGISTRY[name].cls is not cls:
            raise RuntimeError(f"method name '{name}' registered twice")
        REGISTRY[name] = Entry(name, cls, home_protocol, family, tuple(tasks), trains_like)
        cls.registered_name = name
        cls.family = family
        return cls

    return deco


def discover() -> dict[str, Entry]:
    """Import every module of the ``methods`` package so their decorators run."""
    import methods

    for info in pkgutil.iter_modules(methods.__path__):
        importlib.import_module(f"methods.{info.name}")
    return REGISTRY


def get_method(name: str) -> Entry:
    discover()
    try:
        return REGISTRY[name]
    except KeyError:
        raise BenchError(
            f"unknown method '{name}'; available: {', '.join(sorted(REGISTRY))} "
            "(see 'python -m bench list')"
        ) from None
