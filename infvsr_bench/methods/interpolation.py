"""Interpolation baselines: ``bicubic`` (torch, antialiased kernel) and ``lanczos`` (OpenCV Lanczos-4).

``bicubic`` uses ``torch.nn.functional.interpolate(..., antialias=True)``, whose cubic kernel has a = -0.5
(the PIL / MATLAB ``imresize`` kernel) rather than the a = -0.75 of the non-antialiased path.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import FrameWiseMethod, MethodInfo


class Bicubic(FrameWiseMethod):
    def __init__(self, scale: int = 4, chunk_frames: int = 16):
        super().__init__(scale=scale, kernel="bicubic-a-0.5-antialias")
        self.info = MethodInfo(name="bicubic", scale=scale, causal=True, chunk_frames=chunk_frames)

    def upscale(self, lr: torch.Tensor) -> torch.Tensor:
        s = self.info.scale
        return F.interpolate(lr, scale_factor=s, mode="bicubic", align_corners=False, antialias=True)


class Lanczos(FrameWiseMethod):
    def __init__(self, scale: int = 4, chunk_frames: int = 16):
        super().__init__(scale=scale, kernel="opencv-lanczos4")
        self.info = MethodInfo(name="lanczos", scale=scale, causal=True, chunk_frames=chunk_frames)

    def upscale(self, lr: torch.Tensor) -> torch.Tensor:
        import cv2

        s = self.info.scale
        frames = lr.permute(0, 2, 3, 1).cpu().numpy()  # (T,3,h,w) -> (T,h,w,3)
        out = np.stack([cv2.resize(f, (f.shape[1] * s, f.shape[0] * s), interpolation=cv2.INTER_LANCZOS4)
                        for f in frames])
        return torch.from_numpy(out).permute(0, 3, 1, 2)  # (T,H,W,3) -> (T,3,H,W)
