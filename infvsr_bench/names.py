"""Names that become file or folder names: checked once, where they enter the program.

A clip id, a dataset name, a method name or a method card's name ends up as a path component (``frames/<clip>.npz``,
``runs/<dataset>/<method>``). Each is checked against :data:`SAFE_NAME` where it is read (the manifest, the card,
the method adapter), so no name taken from data can reach outside the run folder, the data folder or the weights
cache (``../x``, ``/abs``, an empty name). Free text that only labels a file (a metric label with its parameters,
which may hold a path) goes through :func:`slug` instead, which cannot produce a separator.
"""
from __future__ import annotations

import re

from .errors import BadInput

#: one path component: a letter or digit first (so never ``.``, ``..`` or a hidden file), then letters, digits,
#: ``.``, ``_``, ``+`` or ``-``; at most 128 characters (well inside every filesystem's name limit).
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def is_safe(value: object) -> bool:
    return isinstance(value, str) and SAFE_NAME.match(value) is not None


def check_name(kind: str, value: object, where: str = "") -> str:
    """``value`` if it is a safe path component, else :class:`BadInput` naming ``kind`` (and ``where``)."""
    if not is_safe(value):
        at = f" in {where}" if where else ""
        raise BadInput(f"{kind} {value!r}{at} is not a safe name: it must match {SAFE_NAME.pattern} "
                       f"(letters, digits, '.', '_', '+', '-'; a letter or digit first)")
    return value  # type: ignore[return-value]


def slug(text: str) -> str:
    """A file-name-safe form of free text (``lpips:weights_path=/w/x.pth`` → ``lpips_weights_path=_w_x.pth``):
    every run of characters outside ``[A-Za-z0-9._=-]`` becomes ``_``; never empty, never a separator or ``..``."""
    out = re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("._-")[:128]
    return out or "_"
