"""Frames/s of our PSNR+SSIM against what people use today (pyiqa per frame, an OpenCV per-frame script).

What it measures, in one run, on the same frames:

* **ours**: ``infvsr_bench`` PSNR + SSIM, fed in chunks of ``--chunk`` frames (the streaming path), with the
  default BasicSR convention (Y = BT.601 studio swing, float64) and with the pyiqa preset.
* **pyiqa**: ``pyiqa.create_metric('psnr')`` + ``create_metric('ssim')`` called once per frame — pyiqa's
  defaults: PSNR on RGB, SSIM on rounded YIQ luma.
* **opencv**: the BasicSR convention written with OpenCV per frame (the usual BasicSR-style script):
  float64 Y, ``cv2.GaussianBlur`` 11x11 σ=1.5 SSIM on the valid region, ``cv2.PSNR``.
* **ours, torch path**: our BasicSR preset forced onto the blocked torch path that CUDA frames take (and CPU
  frames took before ``metrics/fidelity_cpu.py``), on ``--torch-frames`` frames: the old-vs-new ratio.

Like is compared with like: our BasicSR preset against the OpenCV script (same convention), our pyiqa
preset against pyiqa. The speed ratios are ours (BasicSR, the default) / peer, plus ours (pyiqa preset) /
pyiqa for the same convention.

Frames are real photographs (skimage.data) resized to cover the frame size and panned a few pixels per
frame, with a scene cut between photographs; the "SR output" is a mild degradation (×2 area down, bicubic up,
σ=2 noise), all on the 8-bit grid. Results go to stdout, progress to stderr; ``--json`` saves everything.

    python benchmarks/fidelity_speed.py --frames 30 --size 1280x720 [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np
from _frames import log, make_frames, to_tensor  # sibling module: run the scripts as files


# -- peers --------------------------------------------------------------------------------------------------
def opencv_basicsr(hr: np.ndarray, sr: np.ndarray) -> tuple[float, float]:
    """PSNR and SSIM of one (H, W, 3) uint8 RGB pair, BasicSR convention (Y, float64), written with OpenCV."""
    import cv2

    def luma(img: np.ndarray) -> np.ndarray:
        return img.astype(np.float64) @ (np.array([65.481, 128.553, 24.966]) / 255.0) + 16.0

    a, b = luma(hr), luma(sr)
    psnr = cv2.PSNR(a, b, 255.0)
    blur = lambda m: cv2.GaussianBlur(m, (11, 11), 1.5)[5:-5, 5:-5]  # valid region: border mode irrelevant
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(psnr), float(ssim_map.mean())


def timed(fn: Callable[[], tuple[list[float], list[float]]], frames: int, repeat: int) -> dict:
    """Run ``fn`` ``repeat`` times; frames/s from the fastest run (the one least disturbed by other load)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    psnr, ssim = out
    return {"frames": frames, "seconds": best, "fps": frames / best,
            "psnr_mean": float(np.mean(psnr)), "ssim_mean": float(np.mean(ssim))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=30, help="frames to score (default 30)")
    p.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    p.add_argument("--chunk", type=int, default=8, help="frames per update() for ours (default 8)")
    p.add_argument("--pyiqa-frames", type=int, default=8,
                   help="frames timed for pyiqa (per-frame cost is constant and pyiqa SSIM is slow; default 8)")
    p.add_argument("--torch-frames", type=int, default=8,
                   help="frames timed for ours on the torch path (slow on a busy CPU; default 8, 0 = skip)")
    p.add_argument("--repeat", type=int, default=2, help="timed runs per implementation; the fastest counts")
    p.add_argument("--threads", type=int, default=None, help="torch/OpenCV threads (default: library default)")
    p.add_argument("--device", default="cpu", help="device for ours (cpu, cuda); peers run on CPU")
    p.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    args = p.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        p.error(f"--size must look like 1280x720, got {args.size!r}")
    if args.frames < 1 or args.chunk < 1 or args.repeat < 1 or args.pyiqa_frames < 0 or args.torch_frames < 0:
        p.error("--frames, --chunk and --repeat must be >= 1, --pyiqa-frames and --torch-frames >= 0")

    import cv2
    import torch

    from infvsr_bench.metrics import fidelity_cpu, get_metric

    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    log(f"making {args.frames} frames of {width}x{height} from skimage photographs ...")
    hr8, sr8 = make_frames(args.frames, width, height, margin=1.15)
    hr, sr = to_tensor(hr8).to(device), to_tensor(sr8).to(device)
    load_before = os.getloadavg()

    def ours(preset: str, frames: int | None = None) -> Callable[[], tuple[list[float], list[float]]]:
        n = args.frames if frames is None else frames

        def run():
            psnr, ssim = get_metric("psnr", preset=preset), get_metric("ssim", preset=preset)
            for i in range(0, n, args.chunk):
                j = min(i + args.chunk, n)
                psnr.update(sr[i:j], hr[i:j])
                ssim.update(sr[i:j], hr[i:j])
            sync()
            return [psnr.compute()["mean"]], [ssim.compute()["mean"]]  # means over all frames
        return run

    def torch_path(run: Callable[[], tuple[list[float], list[float]]]):
        def forced():
            usable = fidelity_cpu.usable
            fidelity_cpu.usable = lambda t: False  # every frame through the blocked torch path
            try:
                return run()
            finally:
                fidelity_cpu.usable = usable
        return forced

    def opencv_run(n: int):
        def run():
            vals = [opencv_basicsr(hr8[i], sr8[i]) for i in range(n)]
            return [v[0] for v in vals], [v[1] for v in vals]
        return run

    results: dict[str, dict] = {}
    # warm-up (first-call allocations, thread pools), not timed
    for preset in ("basicsr", "pyiqa"):
        get_metric("psnr", preset=preset).update(sr[:1], hr[:1])
        get_metric("ssim", preset=preset).update(sr[:1], hr[:1])
    opencv_basicsr(hr8[0], sr8[0])

    log("timing ours (basicsr preset) ...")
    results["ours_basicsr"] = timed(ours("basicsr"), args.frames, args.repeat)
    log("timing ours (pyiqa preset) ...")
    results["ours_pyiqa"] = timed(ours("pyiqa"), args.frames, args.repeat)
    log("timing opencv per frame ...")
    results["opencv_basicsr"] = timed(opencv_run(args.frames), args.frames, args.repeat)
    n_torch = min(args.torch_frames, args.frames)
    if n_torch > 0 and device.type == "cpu":
        log(f"timing ours (basicsr preset) on the torch path, {n_torch} frames ...")
        results["ours_basicsr_torch_path"] = timed(torch_path(ours("basicsr", n_torch)), n_torch, args.repeat)
        same = timed(ours("basicsr", n_torch), n_torch, 1)  # the CPU path on the same frames: values agree
        results["ours_basicsr_torch_path"]["cpu_path_same_frames"] = {k: same[k] for k in ("psnr_mean",
                                                                                            "ssim_mean")}

    try:
        import pyiqa
    except ImportError:
        pyiqa = None
        log("pyiqa is not installed: skipping it")
    n_pyiqa = min(args.pyiqa_frames, args.frames)
    if pyiqa is not None and n_pyiqa > 0:
        log(f"timing pyiqa per frame on {n_pyiqa} frames (CPU) ...")
        p_psnr = pyiqa.create_metric("psnr", device="cpu")
        p_ssim = pyiqa.create_metric("ssim", device="cpu")
        hr_c, sr_c = hr[:n_pyiqa].cpu(), sr[:n_pyiqa].cpu()
        p_psnr(sr_c[:1], hr_c[:1]), p_ssim(sr_c[:1], hr_c[:1])  # warm-up

        def pyiqa_run():
            ps = [float(p_psnr(sr_c[i:i + 1], hr_c[i:i + 1])) for i in range(n_pyiqa)]
            ss = [float(p_ssim(sr_c[i:i + 1], hr_c[i:i + 1])) for i in range(n_pyiqa)]
            return ps, ss

        results["pyiqa"] = timed(pyiqa_run, n_pyiqa, 1)
        # ours (pyiqa preset) on exactly those frames, for a like-for-like value check
        m = [get_metric("psnr", preset="pyiqa"), get_metric("ssim", preset="pyiqa")]
        results["pyiqa"]["ours_same_frames"] = {"psnr_mean": float(m[0].update(sr[:n_pyiqa], hr[:n_pyiqa]).mean()),
                                                "ssim_mean": float(m[1].update(sr[:n_pyiqa], hr[:n_pyiqa]).mean())}

    conventions = {
        "ours_basicsr": "BasicSR: Y BT.601 studio, float64; SSIM 11x11 g1.5 valid",
        "ours_basicsr_torch_path": "BasicSR: same, blocked torch path (CUDA's; CPU's before)",
        "opencv_basicsr": "BasicSR: same, per frame with cv2.GaussianBlur / cv2.PSNR",
        "ours_pyiqa": "pyiqa: PSNR RGB (+1e-8), SSIM rounded YIQ-Y, cs>=0",
        "pyiqa": "pyiqa defaults (psnr, ssim) per frame",
    }
    rows = [(k, results[k]) for k in ("ours_basicsr", "opencv_basicsr", "ours_basicsr_torch_path", "ours_pyiqa",
                                      "pyiqa") if k in results]
    ours_fps = results["ours_basicsr"]["fps"]
    print(f"PSNR+SSIM at {width}x{height}, {args.frames} frames, chunk {args.chunk}, device {device}, "
          f"torch threads {torch.get_num_threads()}, load average before {load_before[0]:.2f}")
    print(f"{'implementation':<24} {'frames':>6} {'frames/s':>9} {'mean PSNR':>11} {'mean SSIM':>11}  convention")
    for k, r in rows:
        print(f"{k:<24} {r['frames']:>6} {r['fps']:>9.2f} {r['psnr_mean']:>11.6f} {r['ssim_mean']:>11.8f}  "
              f"{conventions[k]}")
    ratios = {"ours/opencv": ours_fps / results["opencv_basicsr"]["fps"]}
    if "ours_basicsr_torch_path" in results:
        ratios["ours/ours-torch-path"] = ours_fps / results["ours_basicsr_torch_path"]["fps"]
    if "pyiqa" in results:
        ratios["ours/pyiqa"] = ours_fps / results["pyiqa"]["fps"]
        ratios["ours(pyiqa preset)/pyiqa"] = results["ours_pyiqa"]["fps"] / results["pyiqa"]["fps"]
    print("speed ratios: " + ", ".join(f"{k} = {v:.1f}x" for k, v in ratios.items()))
    agree = {"basicsr: |ours - opencv| PSNR": abs(results["ours_basicsr"]["psnr_mean"]
                                                  - results["opencv_basicsr"]["psnr_mean"]),
             "basicsr: |ours - opencv| SSIM": abs(results["ours_basicsr"]["ssim_mean"]
                                                  - results["opencv_basicsr"]["ssim_mean"])}
    if "ours_basicsr_torch_path" in results:
        tp = results["ours_basicsr_torch_path"]
        agree["basicsr: |cpu path - torch path| PSNR"] = abs(tp["cpu_path_same_frames"]["psnr_mean"] - tp["psnr_mean"])
        agree["basicsr: |cpu path - torch path| SSIM"] = abs(tp["cpu_path_same_frames"]["ssim_mean"] - tp["ssim_mean"])
    if "pyiqa" in results:
        same = results["pyiqa"]["ours_same_frames"]
        agree["pyiqa: |ours - pyiqa| PSNR"] = abs(same["psnr_mean"] - results["pyiqa"]["psnr_mean"])
        agree["pyiqa: |ours - pyiqa| SSIM"] = abs(same["ssim_mean"] - results["pyiqa"]["ssim_mean"])
    print("agreement (same frames, same convention): " + ", ".join(f"{k} = {v:.2e}" for k, v in agree.items()))
    print(f"targets: >= 15 frames/s -> {'met' if ours_fps >= 15 else 'MISSED'} ({ours_fps:.1f}); "
          + (f">= 20x pyiqa -> {'met' if ratios['ours/pyiqa'] >= 20 else 'MISSED'} ({ratios['ours/pyiqa']:.0f}x)"
             if "ours/pyiqa" in ratios else "pyiqa not measured"))

    if args.json_path:
        payload = {"size": [width, height], "frames": args.frames, "chunk": args.chunk, "device": str(device),
                   "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                   "cpu_count": os.cpu_count(), "platform": platform.platform(),
                   "load_average_before": load_before, "load_average_after": os.getloadavg(),
                   "results": results, "ratios": ratios, "agreement": agree, "conventions": conventions}
        with open(args.json_path, "w") as f:
            json.dump(payload, f, indent=2)
        log(f"wrote {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
