"""Method cards: ``methods/<name>.toml`` files that describe how to run a VSR program we do not ship.

A card is data (docs/design.md: presets are data files, not code). It names the program's paper, licence and
install steps, the paths it needs on this machine (repo folder, interpreter, weights — each overridable by
an environment variable or a method parameter), the command template, and the input / output layout. The
:class:`CardRegistry` adds every card in the cards folder to the method registry on first lookup, so
``--method mgld-vsr`` builds the ``external`` adapter with that card. :func:`readiness` says what is missing
on this machine without running anything.

Card schema (unknown keys are rejected so that typos fail loudly)::

    name, description, adapter = "external", scale, track = "online"|"offline", causal, paper, paper_url,
    code, commit, licence, install = [...], notes = [...]
    [paths.<key>]  kind = program|interpreter|repo|folder|weights|file, env = "VAR", default = "...", what
    [params]       defaults a user may override: --method NAME:key=value (also placeholders)
    [run]          command = [...], cwd, env = {...}, timeout_s, startup_regex, segment_frames, segment_overlap
    [input]        layout = frames|video, name, pattern (frames), suffix (video: .mkv|.avi|.mp4), pad
    [output]       layout = frames|video, path (glob), pattern (frames), lossy
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import tomllib

from ..errors import BadInput
from ..names import SAFE_NAME, is_safe
from ..registry import Registry, parse_spec

log = logging.getLogger(__name__)

_TOP = {"name", "description", "adapter", "scale", "track", "causal", "paper", "paper_url", "code", "commit",
        "licence", "install", "notes", "paths", "params", "run", "input", "output"}
_SECTIONS = {
    "run": {"command", "cwd", "env", "timeout_s", "startup_regex", "segment_frames", "segment_overlap"},
    "input": {"layout", "name", "pattern", "suffix", "pad"},
    "output": {"layout", "path", "pattern", "lossy"},
}
_PATH_KEYS = {"kind", "env", "default", "what"}
PATH_KINDS = {"program": "program", "interpreter": "interpreter", "repo": "repo folder", "folder": "folder",
              "weights": "weights", "file": "file"}
#: placeholders the adapter fills for every run (besides the card's paths and params)
BUILTIN_PLACEHOLDERS = ("input", "input_dir", "output", "clip", "segment", "scale", "device", "gpu", "frames",
                        "fps", "width", "height", "out_width", "out_height", "tmp")
#: params the adapter itself understands (any card may override them)
ADAPTER_PARAMS = {"timeout_s", "chunk_frames", "tmp_dir", "segment_frames"}


def cards_dir() -> Path:
    """``$INFVSR_BENCH_METHODS`` or the repository's ``methods/`` folder."""
    env = os.environ.get("INFVSR_BENCH_METHODS")
    if env:
        return Path(env).expanduser()
    import infvsr_bench

    return Path(infvsr_bench.__file__).resolve().parents[1] / "methods"


@dataclass(frozen=True)
class Card:
    """A parsed, validated method card."""

    name: str
    path: Path
    data: dict[str, Any]
    sha256: str

    def section(self, key: str) -> dict[str, Any]:
        return dict(self.data.get(key) or {})


def _bad(path: Path, msg: str) -> BadInput:
    return BadInput(f"method card {path}: {msg}")


def placeholders(template: str) -> set[str]:
    """Field names used in a ``str.format`` template (``{repo}/x`` → {"repo"})."""
    return {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(template) if f}


def load_card(path: str | os.PathLike) -> Card:
    """Parse and validate a card; :class:`BadInput` naming the file and the problem otherwise."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise BadInput(f"method card not found: {path}")
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _bad(path, f"not valid TOML: {exc}") from exc
    unknown = set(data) - _TOP
    if unknown:
        raise _bad(path, f"unknown key(s) {', '.join(sorted(unknown))}")
    for sec, keys in _SECTIONS.items():
        extra = set(data.get(sec) or {}) - keys
        if extra:
            raise _bad(path, f"unknown key(s) in [{sec}]: {', '.join(sorted(extra))}")
    if data.get("adapter", "external") != "external":
        raise _bad(path, f"adapter must be 'external', got {data['adapter']!r}")
    name = data.get("name", path.stem)
    if name != path.stem:
        raise _bad(path, f"name {name!r} must equal the file name {path.stem!r}")
    if not is_safe(name):  # a card's name names its run folder
        raise _bad(path, f"name {name!r} is not a safe name (it must match {SAFE_NAME.pattern})")
    if data.get("track", "offline") not in ("online", "offline"):
        raise _bad(path, "track must be 'online' or 'offline'")
    if not isinstance(data.get("scale", 4), int) or data.get("scale", 4) < 1:
        raise _bad(path, "scale must be a positive integer")
    for key, spec in (data.get("paths") or {}).items():
        if not isinstance(spec, dict) or set(spec) - _PATH_KEYS or spec.get("kind") not in PATH_KINDS:
            raise _bad(path, f"[paths.{key}] needs kind = one of {', '.join(PATH_KINDS)} (keys: "
                             f"{', '.join(sorted(_PATH_KEYS))})")
    run, inp, out = data.get("run") or {}, data.get("input") or {}, data.get("output") or {}
    cmd = run.get("command")
    if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
        raise _bad(path, "[run] command must be a non-empty list of strings")
    if inp.get("layout") not in ("frames", "video") or out.get("layout") not in ("frames", "video"):
        raise _bad(path, "[input] and [output] need layout = 'frames' or 'video'")
    if not out.get("path"):
        raise _bad(path, "[output] path is required (a glob such as '{output}/{clip}.mp4')")
    known = set(BUILTIN_PLACEHOLDERS) | set(data.get("paths") or {}) | set(data.get("params") or {}) | ADAPTER_PARAMS
    templates = list(cmd) + [run.get("cwd") or ""] + [str(v) for v in (run.get("env") or {}).values()]
    templates += [out["path"], str(inp.get("name") or "")]
    templates += [str(s.get("default", "")) for s in (data.get("paths") or {}).values()]
    for t in templates:
        try:
            used = placeholders(t)
        except ValueError as exc:
            raise _bad(path, f"bad template {t!r}: {exc}") from exc
        if used - known:
            raise _bad(path, f"unknown placeholder(s) {', '.join('{' + u + '}' for u in sorted(used - known))} "
                             f"in {t!r}; known: {', '.join(sorted(known))}")
    return Card(name=name, path=path.resolve(), data=data, sha256=hashlib.sha256(raw).hexdigest())


def fill(template: str, values: dict[str, Any]) -> str:
    """``template.format(**values)`` with a clear error for an unknown placeholder."""
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError) as exc:
        raise BadInput(f"cannot fill {template!r}: {exc!r}") from exc


def resolve_paths(card: Card, overrides: dict[str, Any]) -> dict[str, str]:
    """Each ``[paths]`` entry: method parameter > environment variable > card default (which may use
    earlier paths, e.g. ``{repo}/ckpt.pth``), with ``~`` expanded."""
    values: dict[str, str] = {}
    for key, spec in card.section("paths").items():
        env = spec.get("env")
        raw = overrides.get(key) or (os.environ.get(env) if env else None) or spec.get("default", "")
        values[key] = os.path.expanduser(fill(str(raw), {**card.section("params"), **values}))
    return values


def _present(kind: str, value: str) -> bool:
    if not value:
        return False
    if kind in ("program", "interpreter"):
        return shutil.which(value) is not None if os.sep not in value else os.access(value, os.X_OK)
    if kind in ("repo", "folder"):
        return Path(value).is_dir()
    return Path(value).is_file()


def missing_paths(card: Card, paths: dict[str, str]) -> list[str]:
    """One phrase per path that is absent here, saying how to point the card at it. Paths inside a missing
    folder are only counted ("3 more paths inside it"), so the first thing to fix comes first."""
    out: list[str] = []
    folders: dict[str, int] = {}  # missing folder -> index of its phrase in ``out``
    inside: dict[str, int] = {}
    for key, spec in card.section("paths").items():
        value = paths.get(key, "")
        if _present(spec["kind"], value):
            continue
        parent = next((f for f in folders if value.startswith(f.rstrip("/") + "/")), None)
        if parent is not None:
            inside[parent] = inside.get(parent, 0) + 1
            continue
        how = f"set ${spec['env']} or pass {card.name}:{key}=PATH" if spec.get("env") else \
            f"pass {card.name}:{key}=PATH"
        if spec["kind"] in ("repo", "folder") and value:
            folders[value] = len(out)
        out.append(f"{PATH_KINDS[spec['kind']]} {value or '(unset)'} ({how}")
    for folder, i in folders.items():
        if inside.get(folder):
            out[i] += f"; {inside[folder]} more path(s) inside it"
    return [x + ")" for x in out]


def readiness(card: Card, overrides: dict[str, Any] | None = None) -> str:
    """"ready" or "missing: ..." for this machine (nothing is run)."""
    gone = missing_paths(card, resolve_paths(card, overrides or {}))
    return "ready" if not gone else "missing: " + "; ".join(gone)


def parse_method_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"precomputed:dir=/x:name=lab"`` → ``("precomputed", {"dir": "/x", "name": "lab"})``."""
    return parse_spec(spec, "method")


class CardRegistry(Registry):
    """The method registry plus every card of :func:`cards_dir`, read on first lookup (not at import)."""

    def __init__(self, kind: str, folder: Callable[[], Path] = cards_dir):
        super().__init__(kind)
        self._folder = folder
        self._loaded = False
        self.cards: dict[str, Path] = {}

    def _load_cards(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        folder = self._folder()
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            if path.stem in self._entries or path.stem in self._aliases:
                log.warning("method card %s ignored: %r is a built-in method", path, path.stem)
                continue
            try:
                desc = tomllib.loads(path.read_text(encoding="utf-8")).get("description", "")
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
                desc = f"(card unreadable: {exc})"
            self.register(path.stem, functools.partial(_from_card, path), help=f"external program: {desc}")
            self.cards[path.stem] = path

    def names(self) -> list[str]:
        self._load_cards()
        return super().names()

    def canonical(self, name: str) -> str:
        self._load_cards()
        return super().canonical(name)


def _from_card(path: Path, **params: Any):
    from .external import External

    return External(card=path, **params)


def method_status(registry: CardRegistry) -> list[tuple[str, str, str]]:
    """(name, readiness, help) for every registered method: built-ins are ready; cards say what is
    missing on this machine; ``external`` and ``precomputed`` need a parameter."""
    rows = []
    for name in registry.names():
        if name in registry.cards:
            try:
                status = readiness(load_card(registry.cards[name]))
            except BadInput as exc:
                status = f"broken card: {exc}"
        elif name == "external":
            status = "needs card=PATH"
        elif name == "precomputed":
            status = "needs dir=PATH"
        else:  # a built-in adapter may say what it lacks here (e.g. infvsr's weight files)
            check = getattr(registry.get(name), "readiness", None)
            status = check() if callable(check) else "ready"
        rows.append((name, status, registry.help(name)))
    return rows
