"""One LPIPS network, and one piece's trunk features, shared by the metrics of a run that use the same weights.

Why: ``lpips`` scores LPIPS(out_t, gt_t) and ``tlp`` scores LPIPS(out_{t-1}, out_t) − LPIPS(gt_{t-1}, gt_t); both
start from the same unit-normalised trunk features of out_t and gt_t. A run that asks for both would push every
frame through the trunk twice (the trunk is ≥ 95 % of an LPIPS forward on a CPU). Sharing, the first metric of a
chunk computes the features and the second takes them: one trunk pass per frame for the pair, and one copy of
the network in memory.

Why it gives the same numbers: a piece's features are a function of the network's weights and the piece's
pixels only. Metrics join a :class:`Share` only when everything that sets the weights and the arithmetic is
equal (trunk, pretrained or the random seed, the weight file, device, precision), and a stored piece is taken
only for the same input tensors (the same objects, unmodified: their version counters are compared) and the
same frame range. Anything else computes afresh. (Inference tensors, which a run's frames are, keep no version
counter: for them the contract that no metric modifies its input stands alone, as it already does for every
metric the runner feeds the same chunk after another.)

Why memory stays bounded: a share stores at most one piece's features (the last computed), only while more than
one of its members is **active**, and drops them as soon as every active member has taken them, or when a member
leaves and no other active member is left to take them. A member is active from the start of a clip (or its first
forward, when fed without the runner) until its clip ends or it is reset: metrics built for a run that is not
scoring now (the CLI prepares every run of ``--method a,b`` before the first starts) hold nothing back.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import torch
from torch import nn

_SHARES: weakref.WeakValueDictionary[Hashable, Share] = weakref.WeakValueDictionary()


@dataclass
class _Piece:
    """The features of one piece of one chunk, and what they were computed from."""

    # weak: a live referent keeps its identity (no new tensor can take its id), and a stored piece does not keep
    # the chunk's frames alive (a piece no member takes can linger until the next one is computed)
    sr: weakref.ref[torch.Tensor]
    hr: weakref.ref[torch.Tensor]
    versions: tuple[int | None, int | None]
    frames: tuple[int, int]
    feats: list[torch.Tensor]
    seen: set[int]  # ids of the members that computed or took them (each member gets a piece once)


class Share:
    """The network and the last piece's features of the metrics with one key (see the module docstring)."""

    def __init__(self) -> None:
        self.active: weakref.WeakSet = weakref.WeakSet()  # members scoring a clip now (module docstring)
        self._net: nn.Module | None = None
        self._piece: _Piece | None = None
        self.forwards = 0  # trunk passes computed (not taken from another member): for tests and benchmarks

    def network(self, build: Callable[[], nn.Module]) -> nn.Module:
        """The members' network, built by the first member that asks."""
        if self._net is None:
            self._net = build()
        return self._net

    def features(self, member: object, sr: torch.Tensor, hr: torch.Tensor, piece: slice,
                 compute: Callable[[], list[torch.Tensor]]) -> list[torch.Tensor]:
        """The features of frames ``piece`` of (``sr``, ``hr``) for ``member``: another member's, when it just
        computed exactly these, else ``compute()`` (stored for the other members when there are any). A member
        never takes a piece twice: fed the same tensors again, it computes again, as it would alone."""
        self.enter(member)  # also when fed without the runner's start()
        frames = (piece.start, piece.stop)
        p = self._piece
        if (p is not None and id(member) not in p.seen and p.sr() is sr and p.hr() is hr and p.frames == frames
                and p.versions == (_version(sr), _version(hr))):
            p.seen.add(id(member))
            self._drop_if_taken()
            return p.feats
        self._piece = None  # before computing: never hold two pieces at once
        feats = compute()
        self.forwards += 1
        if len(self.active) > 1:
            self._piece = _Piece(weakref.ref(sr), weakref.ref(hr), (_version(sr), _version(hr)), frames, feats,
                                 {id(member)})
        return feats

    def enter(self, member: object) -> None:
        """``member`` scores a clip now: pieces it computes are kept for the others, and it may take theirs."""
        self.active.add(member)

    def leave(self, member: object) -> None:
        """``member``'s clip ended (or it was reset): a stored piece no longer waits for it."""
        self.active.discard(member)
        self._drop_if_taken()

    def _drop_if_taken(self) -> None:
        """Free the stored piece once every active member has it (or fewer than two members are active)."""
        p = self._piece
        if p is not None and (len(self.active) < 2 or all(id(m) in p.seen for m in self.active)):
            self._piece = None

    def stored_nbytes(self) -> int:
        """Bytes of the stored piece's features (0 when none is held)."""
        if self._piece is None:
            return 0
        return sum(f.numel() * f.element_size() for f in self._piece.feats)


def _version(t: torch.Tensor) -> int | None:
    """The tensor's in-place modification counter (None for an inference tensor, which keeps none)."""
    return None if t.is_inference() else t._version


def join(key: Hashable) -> Share:
    """The share of ``key``, made on first use; it lives while a metric holding it does."""
    share = _SHARES.get(key)
    if share is None:
        share = Share()
        _SHARES[key] = share
    return share


__all__ = ["Share", "join"]
