"""Draw temporal profiles as PNG (matplotlib, Agg): time along the x axis in frames, the pixel position along
the row (or column) on the y axis; one stacked image per layer (ground truth, then each output); long clips
split into panels of ``PANEL`` frames. Scene cuts are dashed red lines through every layer; a method's chunk
boundaries are orange ticks along the top of its own layer."""
from __future__ import annotations

from pathlib import Path

import numpy as np

PANEL = 500  # time samples per panel


def draw(path: Path, title: str, layers: list[tuple[str, np.ndarray, list[int] | None]], frame_index: np.ndarray,
         cuts: list[int], along: str) -> Path:
    """``layers``: (name, profile (T, L, 3) uint8, chunk boundaries or None); ``frame_index`` (T,) the frame
    of each time sample; ``along``: "x" for a row profile, "y" for a column profile."""
    from ..plots import _pyplot

    plt = _pyplot()
    t_total, length = layers[0][1].shape[:2]
    step = int(frame_index[1] - frame_index[0]) if t_total > 1 else 1
    panels = [(a, min(a + PANEL, t_total)) for a in range(0, t_total, PANEL)]
    ax_h = min(3.2, max(0.9, length / 100))
    width = max(6.5, min(PANEL, t_total) / 100 + 2.0)
    n_axes = len(panels) * len(layers)
    fig, axes = plt.subplots(n_axes, 1, figsize=(width, n_axes * (ax_h + 0.55) + 0.6), squeeze=False)
    legend: dict = {}
    for p, (a, b) in enumerate(panels):
        f0, f1 = int(frame_index[a]), int(frame_index[b - 1])
        for j, (name, prof, bounds) in enumerate(layers):
            ax = axes[p * len(layers) + j, 0]
            img = prof[a:b].transpose(1, 0, 2)  # (T,L,3) -> (L,T,3): time runs left to right
            ax.imshow(img, aspect="auto", interpolation="nearest",
                      extent=(f0 - step / 2, f1 + step / 2, length - 0.5, -0.5))
            for k, c in enumerate(c for c in cuts if f0 < c <= f1):
                ax.axvline(c - 0.5, color="red", ls="--", lw=1.2, label="scene cut" if k == 0 else None)
            marks = [x for x in (bounds or []) if f0 < x <= f1]
            if marks:
                ax.plot(np.asarray(marks) - 0.5, np.full(len(marks), 0.97), "v", color="orange", ms=5,
                        transform=ax.get_xaxis_transform(), label="chunk boundary", clip_on=False)
            ax.set_xlim(f0 - step / 2, f0 + (PANEL - 0.5) * step if len(panels) > 1 else f1 + step / 2)
            ax.set_title(f"{name} · frames {f0}–{f1}", fontsize=9, loc="left")
            ax.set_ylabel(f"{along} (px)")
            if j == len(layers) - 1:
                ax.set_xlabel("frame")
            for h, lb in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(lb, h)
    fig.suptitle(title, fontsize=11)
    if legend:
        axes[0, 0].legend(list(legend.values()), list(legend), loc="upper right", fontsize=7, framealpha=0.85)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
