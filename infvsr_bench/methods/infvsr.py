"""InfVSR as a benchmark method: ``infvsr``, and the ablations ``infvsr-nocache`` / ``infvsr-noref``.

The adapter feeds LR frames to the online scene chunker (:mod:`~infvsr_bench.models.infvsr.scenes`) and
each finished chunk through the streaming pipeline (:mod:`~infvsr_bench.models.infvsr.pipeline`); the SR
frames come back in order, the same number as went in. With scene detection a frame is only chunked once it
is 15 frames behind the newest frame read (a cut may be reported that late), so ``delay_frames`` is 15 and
the last frames come out of :meth:`flush`.

Parameters (``--method infvsr:key=value`` / ``get_method("infvsr", key=value)``):

* ``preset`` — ``infvsr-1.3b`` (the release) or ``tiny`` (tests);
* ``weights_dir`` — folder holding the four files (else :mod:`infvsr_bench.weights`' folders);
* ``random_weights`` — the full architecture with random weights, **for speed and memory only**: the run's
  records say so and no quality number is ever shown for it;
* ``scene_detection`` (default on), ``scene_threshold`` / ``reference_threshold`` (27), ``window_chunks``
  (1), ``sink_frames`` (0), ``exact_release`` (bf16 timestep, default on), ``dtype`` (``auto``: bf16 on
  CUDA, fp32 on CPU; or ``bf16`` / ``fp32``);
* ``output`` — ``round`` (default: the frames the model computed, rounded to 8 bits by the runner, as for
  every method) or ``release`` (what the release hands over and the paper scored: truncated to uint8 and
  passed through H.264 CRF 15 yuv420p, :mod:`~infvsr_bench.models.infvsr.release_output`; recorded as
  ``params["output"]``; ``reproduce`` uses it);
* speed-ups that keep the numbers (recorded in the run's params; :mod:`~infvsr_bench.models.infvsr.speedups`;
  ``false`` / ``auto`` gives the plain path). On by default: ``sdpa_backends`` (DiT attention kernels in
  priority order, default ``cudnn_attention,flash_attention``; ``auto`` = PyTorch's own choice),
  ``scene_host_batch`` (the scene detector gets each pushed block with one host copy instead of one per
  frame), ``cudnn_benchmark`` (cuDNN autotuning while a chunk runs), ``host_async`` (no host-device
  synchronisation per chunk), ``vae_native_upsample`` (nearest upsampling in the run dtype), ``kv_compact``
  (the KV cache keeps the window only: half the carried cache). Off by default, opt-in: ``vae_channels_last``
  and ``vae_fused_pad`` — on an H200 at 720p they made 33 frames take 4.09 s against 3.25-3.34 s without
  them, and with both on the bf16 output moved by up to 0.036 from the plain path (44.9 dB; 56.8 dB without
  them), ``benchmarks/README.md``.

Chunk boundaries: without scene detection the schedule (9, then 12, ...) is known up front and
:meth:`chunk_boundaries` returns it. With scene detection the true schedule depends on the cuts the detector
finds online, so up front the adapter declares the schedule implied by the clip's *known* cuts (the
dataset's ``scene_cuts`` passed to :meth:`reset`) and afterwards exposes what it actually did as
``observed_chunk_boundaries``; the runner records both and whether they agree, so a seam score computed with
a declared schedule that turned out wrong is visible as such.
"""
from __future__ import annotations

import logging
from typing import Any

import torch

from ..errors import BadInput, MethodError
from ..models.infvsr.profiling import null_stage
from .base import MethodInfo

log = logging.getLogger(__name__)

SCENE_LOOKBEHIND = 15
OUTPUTS = ("round", "release")
DEFAULT_SDPA = "cudnn_attention,flash_attention"
_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp32": torch.float32, "float32": torch.float32,
           "fp16": torch.float16, "float16": torch.float16}


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise BadInput(f"infvsr parameter {name} must be true or false, got {value!r}")


def _backends(value: Any) -> tuple[str, ...]:
    """``sdpa_backends``: "auto" (PyTorch's choice) or comma-separated ``torch.nn.attention.SDPBackend`` names."""
    from torch.nn.attention import SDPBackend

    names = tuple(v.strip().lower() for v in str(value).split(",") if v.strip())
    if names in ((), ("auto",)):
        return ()
    known = [n.lower() for n in SDPBackend.__members__ if n not in ("ERROR", "OVERRIDEABLE")]
    bad = [n for n in names if n not in known]
    if bad:
        raise BadInput(f"infvsr sdpa_backends: unknown {', '.join(bad)} (auto, or some of {', '.join(known)})")
    return names


def _number(value: Any, name: str, kind: type = float) -> Any:
    """A numeric parameter (``kind`` int or float) or a typed BadInput naming it (a CLI string like "abc")."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise BadInput(f"infvsr parameter {name} must be a{'n integer' if kind is int else ' number'}, "
                       f"got {value!r}") from None


class InfVSR:
    """The InfVSR adapter (see module docstring). ``use_cache`` / ``use_reference`` pick the ablation."""

    name = "infvsr"
    #: checked before the adapter is built (infvsr_bench.params), with the parameters' annotated types
    param_limits = {"scale": ">= 1", "window_chunks": ">= 0", "sink_frames": ">= 0", "scene_threshold": "> 0",
                    "reference_threshold": "> 0"}
    use_cache = True
    use_reference = True

    def __init__(self, preset: str = "infvsr-1.3b", weights_dir: str | None = None, random_weights: bool = False,
                 scene_detection: bool = True, scene_threshold: float = 27.0, reference_threshold: float = 27.0,
                 window_chunks: int = 1, sink_frames: int = 0, exact_release: bool = True, dtype: str = "auto",
                 scale: int = 4, sdpa_backends: str = DEFAULT_SDPA, vae_channels_last: bool = False,
                 vae_fused_pad: bool = False, scene_host_batch: bool = True, cudnn_benchmark: bool = True,
                 host_async: bool = True, vae_native_upsample: bool = True, kv_compact: bool = True,
                 output: str = "round"):
        from ..models.infvsr.load import PRESETS

        if preset not in PRESETS:
            raise BadInput(f"infvsr preset {preset!r} unknown (known: {', '.join(PRESETS)})")
        if dtype != "auto" and dtype not in _DTYPES:
            raise BadInput(f"infvsr dtype {dtype!r} unknown (auto, {', '.join(_DTYPES)})")
        scene_threshold = _number(scene_threshold, "scene_threshold")
        reference_threshold = _number(reference_threshold, "reference_threshold")
        window_chunks = _number(window_chunks, "window_chunks", int)
        sink_frames = _number(sink_frames, "sink_frames", int)
        scale = _number(scale, "scale", int)
        if scene_threshold <= 0 or reference_threshold <= 0:
            raise BadInput("infvsr scene_threshold and reference_threshold must be positive")
        if window_chunks < 0 or sink_frames < 0 or scale < 1:
            raise BadInput("infvsr window_chunks and sink_frames must be >= 0 and scale >= 1")
        backends = _backends(sdpa_backends)
        self.preset = preset
        self.weights_dir = weights_dir
        self.random_weights = _flag(random_weights, "random_weights")
        self.scene_detection = _flag(scene_detection, "scene_detection")
        self.params = {"preset": preset, "random_weights": self.random_weights,
                       "scene_detection": self.scene_detection, "scene_threshold": scene_threshold,
                       "reference_threshold": reference_threshold, "window_chunks": window_chunks,
                       "sink_frames": sink_frames, "exact_release": _flag(exact_release, "exact_release"),
                       "dtype": dtype, "use_cache": self.use_cache, "use_reference": self.use_reference,
                       "sdpa_backends": ",".join(backends) or "auto",
                       "vae_channels_last": _flag(vae_channels_last, "vae_channels_last"),
                       "vae_fused_pad": _flag(vae_fused_pad, "vae_fused_pad"),
                       "scene_host_batch": _flag(scene_host_batch, "scene_host_batch"),
                       "cudnn_benchmark": _flag(cudnn_benchmark, "cudnn_benchmark"),
                       "host_async": _flag(host_async, "host_async"),
                       "vae_native_upsample": _flag(vae_native_upsample, "vae_native_upsample"),
                       "kv_compact": _flag(kv_compact, "kv_compact")}
        if scale != 4:
            self.params["scale"] = scale
        if output not in OUTPUTS:
            raise BadInput(f"infvsr output {output!r} unknown ({', '.join(OUTPUTS)})")
        if output != "round":  # the benchmark's convention is not recorded, as before this option existed
            self.params["output"] = output
        self._release = None  # release_output.ReleaseOutput of the clip, with output=release
        self.info = MethodInfo(name=self.name, scale=scale, causal=True, chunk_frames=12,
                               delay_frames=SCENE_LOOKBEHIND if self.scene_detection else 0,
                               random_weights=self.random_weights, track="online")
        self.pipeline = None
        self.chunker = None
        self.weights: list[dict[str, Any]] = []
        self._declared: list[int] | None = None
        self._meta: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------ pre-flight
    @property
    def requires(self) -> tuple[str, ...]:
        """Weight ids this method needs (none with random weights)."""
        from ..models.infvsr.load import WEIGHT_IDS

        return () if self.random_weights else tuple(WEIGHT_IDS.values())

    @staticmethod
    def readiness() -> str:
        """"ready", or which of the four release files are missing or corrupt here (for ``list methods``).
        Present files are sha256-checked through weights.py (once per process: several GB the first time)."""
        from ..models.infvsr.load import RELEASE_FILES, missing_files

        gone = missing_files()
        if not gone:
            return "ready"
        names = ", ".join(RELEASE_FILES[w][0] for w in gone)
        return f"missing: weights {names} (see `infvsr-bench weights list`; random_weights=true runs for speed only)"

    def preflight(self) -> None:
        """Before any work: raise WeightsNotFound listing every missing checkpoint file (the runner calls it
        from ``prepare``, so the CLI exits 2 before anything runs)."""
        if self.random_weights:
            return
        from .. import weights
        from ..models.infvsr.load import WEIGHT_IDS, check_weights

        check_weights(self.weights_dir)
        self.weights = [weights.provenance(wid, self.weights_dir) for wid in WEIGHT_IDS.values()]

    # ------------------------------------------------------------------------------------- protocol
    def setup(self, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        from ..models.infvsr.load import build_random, load_infvsr
        from ..models.infvsr.pipeline import InfVSRPipeline, PipelineOptions
        from ..models.infvsr.scenes import SceneChunker
        from ..models.infvsr.speedups import set_vae_fused_pad, set_vae_native_upsample, vae_channels_last

        p = self.params
        run_dtype = _DTYPES[p["dtype"]] if p["dtype"] != "auto" else (
            torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
        if self.random_weights:
            log.warning("infvsr: RANDOM WEIGHTS — for speed and memory measurement only; no quality is reported")
            models = build_random(self.preset, device=device, dtype=run_dtype)
        else:
            models = load_infvsr(self.weights_dir, device=device, dtype=run_dtype, preset=self.preset)
        self.weights = models.weights
        opts = PipelineOptions(scale=self.info.scale, use_cache=self.use_cache, use_reference=self.use_reference,
                               window_chunks=p["window_chunks"], sink_frames=p["sink_frames"],
                               exact_release=p["exact_release"], sdpa_backends=_backends(p["sdpa_backends"]),
                               channels_last=p["vae_channels_last"], cudnn_benchmark=p["cudnn_benchmark"],
                               host_async=p["host_async"], kv_compact=p["kv_compact"])
        if p["vae_channels_last"]:
            vae_channels_last(models.vae)
        set_vae_fused_pad(models.vae, p["vae_fused_pad"])
        set_vae_native_upsample(models.vae, p["vae_native_upsample"])
        models.vae.stats_on_device = {} if p["host_async"] else None  # host_async: no copy per encode/decode
        self.pipeline = InfVSRPipeline(models.dit, models.vae, models.encoder, opts)
        self.chunker = SceneChunker(detect=self.scene_detection, scene_threshold=p["scene_threshold"],
                                    reference_threshold=p["reference_threshold"], host_batch=p["scene_host_batch"])
        self.run_dtype = run_dtype

    def reset(self, meta: dict[str, Any] | None = None) -> None:
        if self.pipeline is None:
            raise MethodError("infvsr: setup() must be called before reset()")
        self._meta = dict(meta or {})
        self.chunker.reset(float(self._meta.get("fps") or 30.0))
        self.pipeline.reset()
        self._declared = None
        if self.params.get("output") == "release":
            from ..models.infvsr.release_output import ReleaseOutput

            self._release = ReleaseOutput(fps=float(self._meta.get("fps") or 30.0))

    def _run(self, chunks) -> torch.Tensor:
        outs = [self.pipeline.process(c) for c in chunks]
        if not outs:
            return torch.empty(0, 3, 0, 0)
        return torch.cat(outs) if len(outs) > 1 else outs[0]

    def _scenes(self):
        """The host stage "scene_detection" (detector + chunking) when the pipeline is being profiled."""
        prof = self.pipeline.profiler
        return prof.stage("scene_detection", host=True) if prof is not None else null_stage()

    def step(self, lr_chunk: torch.Tensor) -> torch.Tensor:
        with self._scenes():
            chunks = self.chunker.push(lr_chunk)
        out = self._run(chunks)
        return out if self._release is None else self._release.push(out)

    def flush(self) -> torch.Tensor:
        with self._scenes():
            chunks = self.chunker.finish()
        out = self._run(chunks)
        if self._release is None:
            return out
        parts = [y for y in (self._release.push(out), self._release.finish()) if y.numel()]
        return torch.cat(parts) if parts else out

    # ------------------------------------------------------------------------------------ reporting
    def chunk_boundaries(self, n: int) -> list[int]:
        """Frame indices where a chunk starts: the fixed schedule without scene detection; with it, the
        schedule implied by the clip's known scene cuts (see module docstring and
        ``observed_chunk_boundaries``)."""
        from ..models.infvsr.scenes import schedule

        cuts = (self._meta.get("scene_cuts") or []) if self.scene_detection else []
        self._declared = schedule(int(n), cuts)
        return list(self._declared)

    @property
    def observed_chunk_boundaries(self) -> list[int] | None:
        """Chunk starts the chunker actually used for the current clip so far (None before setup)."""
        return list(self.chunker.boundaries) if self.chunker is not None else None

    @property
    def observed_scene_cuts(self) -> list[int] | None:
        return list(self.chunker.cuts) if self.chunker is not None else None

    @property
    def dtype_label(self) -> str:
        """The dtype the networks run in (recorded with the throughput): "bfloat16" on CUDA by default."""
        return str(getattr(self, "run_dtype", torch.float32)).replace("torch.", "")

    def cache_bytes(self) -> int:
        """Bytes of the carried state: DiT KV cache + VAE stream histories + context tokens."""
        return self.pipeline.state_bytes() if self.pipeline is not None else 0

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"info": self.info.as_dict(), "params": dict(sorted(self.params.items()))}
        if self.weights:
            d["weights"] = self.weights
        return d


class InfVSRNoCache(InfVSR):
    """Ablation: no KV cache — each chunk's self-attention sees only itself (chunks restored independently)."""

    name = "infvsr-nocache"
    use_cache = False


class InfVSRNoRef(InfVSR):
    """Ablation: no reference guidance — a zero cross-attention context instead of the reference tokens."""

    name = "infvsr-noref"
    use_reference = False


__all__ = ["InfVSR", "InfVSRNoCache", "InfVSRNoRef"]
