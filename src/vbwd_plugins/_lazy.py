"""Names a package loads on first use: the one mechanism behind every lazy ``__getattr__``.

Keeps ``import vbwd_plugins`` light: a package lists which of its public names live in which
module, and that module is imported the first time one of them is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, namespace: dict[str, Any], homes: Mapping[str, str]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``homes[name]`` the first time ``name`` is read.

    The value is then stored in ``namespace`` (the package's ``globals()``), so later reads
    never reach this function again.
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        from importlib import import_module

        value = getattr(import_module(home), name)
        namespace[name] = value
        return value

    return __getattr__
