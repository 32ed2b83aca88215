"""InfVSR's one-step sampler: one DiT call at a fixed timestep and one flow-matching Euler step to σ = 0.

The release (``docs/infvsr.md`` §3.4) treats the latent of the bicubically upsampled LR chunk as the noisy latent
z at a fixed noise level, asks the DiT for the flow-matching velocity v (Wan convention: x_t = (1−σ)x0 + σε,
v = ε − x0) and returns x0 = z − σ·v. No noise is added.

Schedule: σ_i = linspace(1, 0, 1001)[:-1] (float32, as the release's scheduler), shifted with shift 5:
σ' = 5σ / (1 + 4σ); timesteps are 1000·σ'. The σ used is the entry whose timestep is nearest to the DiT's
timestep.

The bf16 rounding, and why ``exact_release`` exists: the release asks for timestep **399** but stores it in a
bf16 tensor, and bf16 has 8 significant bits, so the value is **400.0**. The DiT's sinusoid sees 400 and the
table lookup picks σ_raw = 0.118 → **σ ≈ 0.40082** (with an exact 399: σ_raw 0.117 → σ ≈ 0.39850). In the
final update σ is a 0-dim fp32 tensor times bf16 latents, so PyTorch's type promotion rounds it to bf16
(0.400390625) — this module reproduces that by doing the same multiply.

- ``exact_release=True`` (default; what the released weights were run with): timestep = bf16(399) = 400,
  σ = 0.40082.
- ``exact_release=False``: the nominal timestep 399.0 in fp32 and its σ = 0.39850 (a documented deviation).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

RELEASE_TIMESTEP = 399
RELEASE_SHIFT = 5.0
TRAIN_STEPS = 1000


def shifted_sigmas(num_train_steps: int = TRAIN_STEPS, shift: float = RELEASE_SHIFT) -> torch.Tensor:
    """The release's shifted σ table (float32, ``num_train_steps`` entries, from 1 down to just above 0)."""
    sigma = torch.linspace(1.0, 0.0, num_train_steps + 1, dtype=torch.float32)[:-1]
    return shift * sigma / (1 + (shift - 1) * sigma)


def sigma_for_timestep(timestep: float, num_train_steps: int = TRAIN_STEPS, shift: float = RELEASE_SHIFT) -> float:
    """σ of the table entry whose timestep (1000·σ') is nearest to ``timestep``."""
    sigmas = shifted_sigmas(num_train_steps, shift)
    idx = int(torch.argmin((sigmas * num_train_steps - float(timestep)).abs()))
    return float(sigmas[idx])


@dataclass(frozen=True)
class OneStepSampler:
    """Timestep, σ and the Euler update of InfVSR's single restoration step."""

    timestep_nominal: float = RELEASE_TIMESTEP
    shift: float = RELEASE_SHIFT
    num_train_steps: int = TRAIN_STEPS
    exact_release: bool = True

    @cached_property
    def timestep_value(self) -> float:
        """The timestep the DiT sees: bf16-rounded (400 for 399) when ``exact_release``, else nominal."""
        if self.exact_release:
            return float(torch.tensor(self.timestep_nominal, dtype=torch.bfloat16))
        return float(self.timestep_nominal)

    @cached_property
    def sigma(self) -> float:
        """σ of the step (0.40082 for the release, 0.39850 for the clean 399)."""
        return sigma_for_timestep(self.timestep_value, self.num_train_steps, self.shift)

    def timestep(self, batch: int = 1, device: torch.device | str | None = None) -> torch.Tensor:
        """(B,) timestep tensor for the DiT: bf16 as in the release when ``exact_release``, else float32."""
        dtype = torch.bfloat16 if self.exact_release else torch.float32
        return torch.full((batch,), float(self.timestep_nominal), dtype=dtype, device=device)

    def sigma_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """σ as the 0-dim fp32 tensor :meth:`step` multiplies by (create it once per device and pass it to
        ``step`` to avoid a host-to-device copy, and so a synchronisation, per chunk)."""
        return torch.tensor(self.sigma, dtype=torch.float32, device=device)

    def step(self, z: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        """x0 = z − σ·v, with σ a 0-dim fp32 tensor (so bf16 latents give the release's bf16 arithmetic);
        ``sigma``: that tensor made beforehand by :meth:`sigma_tensor`."""
        return z - (self.sigma_tensor(z.device) if sigma is None else sigma) * v

    def restore(self, dit, z: torch.Tensor, context: torch.Tensor, cache=None,
                start_frame: int | None = None) -> torch.Tensor:
        """One chunk: v = dit(z, t, context, cache, start_frame); return z − σ·v (in z's dtype)."""
        v = dit(z, self.timestep(z.shape[0], z.device), context, cache=cache, start_frame=start_frame)
        return self.step(z, v.to(z.dtype))
