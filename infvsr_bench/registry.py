"""Name → factory tables with aliases, lazy imports and did-you-mean errors.

Entries are ``"module:attr"`` strings so that listing names imports nothing heavy.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable

from .errors import BadInput, UnknownName


class Registry:
    """A small registry: ``register(name, "pkg.mod:Factory", aliases=...)`` then ``get(name)``."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, str | Callable[..., Any]] = {}
        self._aliases: dict[str, str] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, target: str | Callable[..., Any], *, aliases: tuple[str, ...] = (),
                 help: str = "") -> None:
        if name in self._entries or name in self._aliases:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = target
        self._help[name] = help
        for alias in aliases:
            self._aliases[alias] = name

    def names(self) -> list[str]:
        return sorted(self._entries)

    def help(self, name: str) -> str:
        return self._help[self.canonical(name)]

    def canonical(self, name: str) -> str:
        key = name.strip().lower()
        if key in self._entries:
            return key
        if key in self._aliases:
            return self._aliases[key]
        hint = did_you_mean(key, list(self._entries) + list(self._aliases))
        raise UnknownName(f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})")

    def get(self, name: str) -> Callable[..., Any]:
        target = self._entries[self.canonical(name)]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module), attr)
        return target

    def build(self, name: str, /, **params: Any) -> Any:
        """The component ``name`` built with ``params``, checked first against its declared parameters
        (:mod:`infvsr_bench.params`); a constructor's own refusal (TypeError, ValueError) is bad input too."""
        from . import params as declared

        key = self.canonical(name)
        factory = self.get(key)
        owner = f"{self.kind} {key}"
        checked = declared.check(owner, params, declared.schema(factory))
        try:
            return factory(**checked)
        except (TypeError, ValueError) as exc:
            raise BadInput(f"{owner}: {exc}") from exc


def did_you_mean(name: str, choices) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``name``, or "" when none is close."""
    close = difflib.get_close_matches(str(name).lower(), list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _cast(value: str) -> Any:
    """A CLI parameter value: true/false, an int, a float, else the string as given."""
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parse_spec(spec: str, kind: str) -> tuple[str, dict[str, Any]]:
    """``"NAME:key=value:key=value"`` → ``(NAME, {key: value})`` with values cast by :func:`_cast`; ``kind``
    ("metric", "method") names the thing in the one-line error for a malformed parameter."""
    name, *rest = [p.strip() for p in spec.strip().split(":")]
    params: dict[str, Any] = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"bad {kind} parameter {item!r} in {spec!r}: expected key=value")
        params[key.strip()] = _cast(value.strip())
    return name, params
