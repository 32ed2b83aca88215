"""Declared, typed parameters of methods and metrics, checked at the edge before anything is built.

A component's parameter schema is its constructor's signature — names, type annotations, defaults — plus
the limits its class declares in ``param_limits`` (merged along the class hierarchy), e.g.
``{"chunk_frames": ">= 1", "max_db": "> 0"}``. :func:`check` holds ``NAME:key=value`` parameters against it:
an unknown name is refused with a did-you-mean and the list of valid names; a value of the wrong type
(``scale=x``, ``chunk_frames=abc``) or out of its limits (``chunk_frames=0``) is refused naming the parameter,
what it must be and what was given. Every refusal is one :class:`~infvsr_bench.errors.BadInput` line (exit 2),
so nothing invalid is ever substituted silently or found only when a clip runs.
"""
from __future__ import annotations

import inspect
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

from .errors import BadInput
from .registry import did_you_mean

_LIMIT_RE = re.compile(r"^\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda v, b: v >= b, ">": lambda v, b: v > b, "<=": lambda v, b: v <= b, "<": lambda v, b: v < b}
_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


@dataclass(frozen=True)
class Param:
    """One declared parameter: the scalar types it accepts (empty: any value), whether None is allowed (its
    default is None), and its limits (``">= 1"``, ``"> 0, <= 1"``)."""

    name: str
    types: tuple[type, ...] = ()
    optional: bool = False
    limits: str = ""

    def check(self, owner: str, value: Any) -> Any:
        """``value`` as the component gets it; BadInput naming the parameter when it does not fit."""
        if value is None and self.optional:
            return value
        if self.types:
            value = self._convert(owner, value)
        if self.limits and isinstance(value, (int, float)) and not isinstance(value, bool):
            for cond in self.limits.split(","):
                op, bound = _LIMIT_RE.match(cond).groups()
                if not _OPS[op](value, float(bound)):
                    raise BadInput(f"{owner}: {self.name} must be {self.limits.replace(',', ' and')}, "
                                   f"got {value!r}")
        return value

    def _convert(self, owner: str, value: Any) -> Any:
        given = type(value)
        if given in self.types or (given is int and float in self.types):  # an int is a number
            if isinstance(value, float) and not math.isfinite(value):
                raise BadInput(f"{owner}: {self.name} must be a finite number, got {value!r}")
            return value
        if str in self.types and given in (bool, int, float):  # `name=123` typed on a command line: text
            return ("true" if value else "false") if given is bool else str(value)
        want = " or ".join(_TYPE_WORDS[t] for t in self.types) + (" (or none)" if self.optional else "")
        raise BadInput(f"{owner}: {self.name} must be {want}, got {value!r}")


def _scalar_types(hint: Any) -> tuple[tuple[type, ...], bool]:
    """(checkable scalar types, None allowed) of an annotation; () when it admits something else too."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    optional = type(None) in args
    rest = [a for a in args if a is not type(None)]
    if not rest or any(a not in _TYPE_WORDS for a in rest):
        return (), optional  # e.g. str | torch.device, a backbone object: not a command-line scalar
    return tuple(rest), optional


def declared_limits(factory: Callable[..., Any]) -> dict[str, str]:
    """``param_limits`` of a class and its bases (a subclass's entry wins)."""
    out: dict[str, str] = {}
    for cls in reversed(getattr(factory, "__mro__", ())):
        out.update(vars(cls).get("param_limits", {}))
    for cond in ",".join(out.values()).split(","):
        if cond.strip() and not _LIMIT_RE.match(cond):
            raise ValueError(f"{factory}: bad param_limits entry {cond!r}")
    return out


def schema(factory: Callable[..., Any]) -> dict[str, Param] | None:
    """The parameters ``factory`` declares, or None when it takes any keyword (``**params``: it checks them
    itself, as a method card does)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    init = factory.__init__ if isinstance(factory, type) else factory
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # an annotation that does not resolve at run time: fall back on the defaults' types
        hints = {}
    limits = declared_limits(factory)
    out = {}
    for name, p in sig.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        if name in hints:
            kinds, optional = _scalar_types(hints[name])
        else:
            d = p.default
            kinds = (float,) if type(d) is float else (type(d),) if type(d) in _TYPE_WORDS else ()
            optional = d is None
        out[name] = Param(name, kinds, optional or p.default is None, limits.get(name, ""))
    return out


def check(owner: str, params: dict[str, Any], declared: dict[str, Param] | None) -> dict[str, Any]:
    """``params`` checked against ``declared`` (see module docstring); returns them as the component gets
    them. ``owner`` ("method bicubic", "metric psnr") starts every message."""
    if declared is None:
        return dict(params)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        name = unknown[0]
        valid = ", ".join(sorted(declared)) or "none"
        raise BadInput(f"{owner}: unknown parameter {name!r}{did_you_mean(name, declared)} (valid: {valid})")
    return {k: declared[k].check(owner, v) for k, v in params.items()}
