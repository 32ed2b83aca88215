"""Shared inputs of the benchmark scripts (imported as a sibling module: run the scripts as files)."""
from __future__ import annotations

import sys
from typing import Any

import numpy as np


def log(msg: str) -> None:
    """Progress to stderr, so stdout carries only results."""
    print(msg, file=sys.stderr, flush=True)


def parse_size(parser: Any, text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` → (width, height); a malformed value ends the script through ``parser.error``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        parser.error("--size must look like 256x192")
    return width, height


def parse_names(parser: Any, text: str, choices: tuple[str, ...]) -> list[str]:
    """A comma-separated subset of ``choices``; an unknown name ends the script through ``parser.error``."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = sorted(set(names) - set(choices))
    if unknown:
        parser.error(f"unknown metric(s) {', '.join(unknown)} (choose from {', '.join(choices)})")
    return names


def to_tensor(frames: np.ndarray) -> Any:
    """(T, H, W, 3) uint8 → (T, 3, H, W) float32 torch tensor in [0, 1], the layout the metrics take."""
    import torch

    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)  # (T,H,W,3) -> (T,3,H,W)


def pan_frames(n: int, width: int, height: int, margin: float = 1.2) -> np.ndarray:
    """(n, H, W, 3) uint8 frames panned a few pixels per frame over real photographs, one scene per photograph."""
    import cv2
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.rocket(), data.chelsea()]
    per_photo = max(1, -(-n // len(photos)))  # ceil
    hr = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        photo = photos[(i // per_photo) % len(photos)]
        k = i % per_photo
        scale = margin * max(width / photo.shape[1], height / photo.shape[0])  # cover the frame with margin
        canvas = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        x0 = min(4 * k, canvas.shape[1] - width)
        y0 = min(2 * k, canvas.shape[0] - height)
        hr[i] = canvas[y0:y0 + height, x0:x0 + width]
    return hr


def make_frames(n: int, width: int, height: int, seed: int = 0, margin: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, 3) uint8 HR frames panned over real photographs, and their mildly degraded "SR" versions."""
    import cv2

    hr = pan_frames(n, width, height, margin)
    rng = np.random.default_rng(seed)
    sr = np.empty_like(hr)
    for i in range(n):
        small = cv2.resize(hr[i], (width // 2, height // 2), interpolation=cv2.INTER_AREA)
        up = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float64)
        sr[i] = np.clip(up + rng.normal(0.0, 2.0, up.shape), 0, 255).round().astype(np.uint8)
    return hr, sr
