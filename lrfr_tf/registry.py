"""Name -> factory registries (timm style) shared by every kind of component.

Each component family owns one ``Registry`` (backbones, heads, losses,
degradation ops, SR nets, recipes ...). Tests parametrize over
``registry.names()`` so a newly registered component is tested by adding it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List


class Registry:
    """A named collection of factories (classes or functions)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Callable[..., Any]] = {}

    def register(self, name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@REG.register("name")`` (defaults to the object's ``__name__``)."""

        def decorator(obj: Callable[..., Any]) -> Callable[..., Any]:
            key = name or obj.__name__
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self.kind} {key!r} is already registered to {self._entries[key]!r}")
            self._entries[key] = obj
            return obj

        return decorator

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {known}") from None

    def create(self, name: str, **kwargs: Any) -> Any:
        """``factory(**kwargs)``; an argument the factory does not take is a ValueError naming it."""
        factory = self.get(name)
        try:
            return factory(**kwargs)
        except TypeError as e:
            if "keyword argument" not in str(e):
                raise
            raise ValueError(f"{self.kind} {name!r} does not take the given argument(s): {e}") from None

    def names(self) -> List[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
