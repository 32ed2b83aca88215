"""Frames/s of the streaming metrics against a peer each, and the size of each metric's carried state.

One table, one row per metric (``ROWS`` below; add a row to add a metric). For each row, on the same frames:

* **ours**: ``get_metric(name, **params)``, fed ``--chunk`` frames per ``update()`` (the streaming path).
* **peer**: what people run today for that number, one frame (or pair) at a time:
  ``psnr`` / ``ssim`` → pyiqa per frame (pyiqa's own conventions: RGB PSNR, YIQ-luma SSIM);
  ``ewarp-dis`` → RAFT-small with **random weights**, per pair (the flow cost of a RAFT-based E*warp; its
  values are meaningless and printed only as "random");
  ``ewarp-ref`` → the usual per-pair OpenCV script (DIS, ``cv2.remap``, numpy mask; values agree to a few
  1e-3: ``cv2.remap`` quantises sample positions to 1/32 px);
  ``tof`` → TecoGAN's per-frame loop (gray, Farnebäck twice, numpy), same numbers;
  ``flicker`` → VBench's per-pair ``cv2.absdiff`` mean, same numbers.
  Peers are timed on ``--peer-frames`` frames where they are slow; per-frame cost does not depend on it.
* **carried state**: bytes of tensors / arrays a metric holds between updates after 1,000 and after 10,000
  frames (fed at ``--state-size``, a chunk repeated); must be equal — the carry is O(1 frame), never
  O(video). The window sums (one float pair per ``window`` frames, by design) are counted separately.

Frames are real photographs (skimage.data) resized to cover the frame and panned 4 px right and 2 px down per
frame, a new photograph every ``--frames``/4 frames (no scene cuts are declared, so every pair is scored);
the "SR output" is a mild degradation (×2 area down, bicubic up, σ=2 noise), all on the 8-bit grid.

    python benchmarks/metric_speed.py --frames 24 --size 960x540 [--chunk 8] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _frames import log, make_frames, to_tensor  # sibling module: run the scripts as files


# -- peers: each takes (hr8, sr8, n) and returns per-frame (or per-pair) values -------------------------------
def peer_pyiqa(kind: str) -> Callable[[np.ndarray, np.ndarray, int], list[float]]:
    def run(hr8: np.ndarray, sr8: np.ndarray, n: int) -> list[float]:
        import pyiqa
        import torch

        metric = pyiqa.create_metric(kind, device="cpu")
        to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            return [float(metric(to_t(sr8[i]), to_t(hr8[i]))) for i in range(n)]
    return run


def peer_raft_small_per_pair(hr8: np.ndarray, sr8: np.ndarray, n: int) -> list[float]:
    """E*warp with RAFT-small (random weights, 20 iterations), one pair and one direction per call."""
    import torch

    from infvsr_bench.metrics.flow import RAFTFlow, downscale, grey_levels
    from infvsr_bench.metrics.temporal import warp_error

    flow = RAFTFlow("raft_small", iters=20, pretrained=False)
    frames = downscale(grey_levels(torch.from_numpy(sr8[:n]).permute(0, 3, 1, 2)), 0.5) / 255.0
    out = []
    with torch.no_grad():
        for t in range(1, n):
            a, b = frames[t - 1:t], frames[t:t + 1]
            err, _ = warp_error(a, b, flow(a, b), flow(b, a))
            out.append(1000.0 * float(err))
    return out


def peer_opencv_ewarp_ref(hr8: np.ndarray, sr8: np.ndarray, n: int) -> list[float]:
    """The per-pair OpenCV script of Lai et al.'s E_warp: DIS on the reference, cv2.remap, numpy mask."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_MEDIUM)
    h, w = hr8.shape[1:3]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for t in range(1, n):
        g0 = cv2.cvtColor(hr8[t - 1], cv2.COLOR_RGB2GRAY)
        g1 = cv2.cvtColor(hr8[t], cv2.COLOR_RGB2GRAY)
        fw, bw = dis.calc(g0, g1, None), dis.calc(g1, g0, None)
        mx, my = xs + fw[..., 0], ys + fw[..., 1]
        bw_on = cv2.remap(bw, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fb = ((fw + bw_on) ** 2).sum(-1) > 0.01 * ((fw ** 2).sum(-1) + (bw_on ** 2).sum(-1)) + 0.5
        grad = np.zeros((h, w), np.float32)
        grad[:, :-1] += ((fw[:, :-1] - fw[:, 1:]) ** 2).sum(-1)
        grad[:-1, :] += ((fw[:-1] - fw[1:]) ** 2).sum(-1)
        keep = ~(fb | (grad > 0.01 * (fw ** 2).sum(-1) + 0.002))
        warped = cv2.remap(sr8[t].astype(np.float32) / 255.0, mx, my, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        sq = ((sr8[t - 1].astype(np.float32) / 255.0 - warped) ** 2).sum(-1)
        out.append(1000.0 * float(sq[keep].sum(dtype=np.float64)) / keep.sum() if keep.any() else math.nan)
    return out


def peer_tecogan_tof(hr8: np.ndarray, sr8: np.ndarray, n: int) -> list[float]:
    """TecoGAN's loop: gray per frame, Farnebäck for output and target, mean L2 of the difference."""
    import cv2

    out, prev = [], None
    for t in range(n):
        og, tg = cv2.cvtColor(sr8[t], cv2.COLOR_RGB2GRAY), cv2.cvtColor(hr8[t], cv2.COLOR_RGB2GRAY)
        if prev is not None:
            d = (cv2.calcOpticalFlowFarneback(prev[0], og, None, 0.5, 3, 15, 3, 5, 1.2, 0)
                 - cv2.calcOpticalFlowFarneback(prev[1], tg, None, 0.5, 3, 15, 3, 5, 1.2, 0)).astype(np.float64)
            out.append(float(np.sqrt((d * d).sum(-1)).mean()))
        prev = (og, tg)
    return out


def peer_vbench_flicker(hr8: np.ndarray, sr8: np.ndarray, n: int) -> list[float]:
    """VBench's temporal flickering per pair: (255 - mean(cv2.absdiff)) / 255."""
    import cv2

    return [(255.0 - float(np.mean(cv2.absdiff(sr8[t - 1], sr8[t])))) / 255.0 for t in range(1, n)]


def peer_torchvision_mobilenet(hr8: np.ndarray, sr8: np.ndarray, n: int) -> list[float]:
    """VBench-style loop: torchvision MobileNetV2 with its own eval transform, one frame per forward, score
    ½[cos(prev) + cos(first)] per frame (the first frame has none)."""
    import torch
    import torchvision
    from torchvision.transforms import v2

    from infvsr_bench import weights

    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(weights.load_state_dict("mobilenet_v2"))
    net.classifier = torch.nn.Identity()
    net.eval()
    tf = v2.Compose([v2.Resize(224, antialias=True), v2.CenterCrop(224), v2.ToDtype(torch.float32, scale=True),
                     v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    feats, out = [], [float("nan")]
    with torch.inference_mode():
        for i in range(n):
            x = tf(torch.from_numpy(sr8[i]).permute(2, 0, 1))[None]  # (H,W,3) -> (1,3,224,224)
            f = torch.nn.functional.normalize(net(x), dim=1)[0]
            if feats:
                out.append(0.5 * (max(0.0, float(f @ feats[-1])) + max(0.0, float(f @ feats[0]))))
            feats = [feats[0], f] if feats else [f]
    return out


def peer_ffmpeg_libvmaf(hr8: np.ndarray, sr8: np.ndarray, n: int) -> list[float]:
    """ffmpeg's libvmaf on two rawvideo files written first (what a script around the ffmpeg CLI does)."""
    import csv
    import subprocess
    import tempfile

    import imageio_ffmpeg

    h, w = hr8.shape[1:3]
    with tempfile.TemporaryDirectory() as d:
        for name, arr in (("dis.rgb", sr8[:n]), ("ref.rgb", hr8[:n])):
            with open(os.path.join(d, name), "wb") as f:
                f.write(np.ascontiguousarray(arr).tobytes())
        scale = "scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int+bitexact,format=yuv420p"
        raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", f"{w}x{h}", "-framerate", "25"]
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
               *raw, "-i", "dis.rgb", *raw, "-i", "ref.rgb", "-lavfi",
               f"[0:v]{scale}[d];[1:v]{scale}[r];[d][r]libvmaf=model=version=vmaf_v0.6.1:n_threads=4:"
               f"log_fmt=csv:log_path=log.csv", "-f", "null", "-"]
        subprocess.run(cmd, cwd=d, check=True, capture_output=True)
        with open(os.path.join(d, "log.csv")) as f:
            return [float(r["vmaf"]) for r in csv.DictReader(f)]


# -- the table ------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One metric of the table: how we build it and the peer it is compared with."""

    metric: str
    params: dict[str, Any] = field(default_factory=dict)
    peer: str | None = None
    peer_fn: Callable[[np.ndarray, np.ndarray, int], list[float]] | None = None
    peer_frames: int | None = None  # cap on frames the peer is timed on (None: --peer-frames)
    same_values: bool = False  # peer computes the same convention: mean values must agree
    peer_values_meaningful: bool = True  # False: the peer runs with random weights (speed only)
    note: str = ""


ROWS: list[Row] = [
    Row("psnr", peer="pyiqa psnr per frame", peer_fn=peer_pyiqa("psnr"), note="ours BasicSR Y; pyiqa RGB"),
    Row("ssim", peer="pyiqa ssim per frame", peer_fn=peer_pyiqa("ssim"), peer_frames=4,
        note="ours BasicSR Y float64; pyiqa YIQ-Y"),
    Row("ewarp-dis", peer="RAFT-small (random weights) per pair", peer_fn=peer_raft_small_per_pair,
        peer_frames=4, peer_values_meaningful=False,
        note="peer values meaningless (random weights): flow cost only"),
    Row("ewarp-ref", peer="OpenCV per-pair script", peer_fn=peer_opencv_ewarp_ref, same_values=True,
        note="cv2.remap quantises positions to 1/32 px: values differ slightly"),
    Row("tof", {"crop": "none", "skip_ends": 0}, peer="TecoGAN per-frame loop", peer_fn=peer_tecogan_tof,
        same_values=True, note="whole frames, every pair: the peer loop's values"),
    Row("flicker", peer="VBench per-pair loop", peer_fn=peer_vbench_flicker, same_values=True),
    Row("semantic-mobilenet", peer="torchvision MobileNetV2 per frame", peer_fn=peer_torchvision_mobilenet,
        note="needs mobilenet_v2 weights; peer uses torchvision's 256-free resize+crop as ours"),
    Row("vmaf", peer="ffmpeg libvmaf on rawvideo files", peer_fn=peer_ffmpeg_libvmaf, same_values=True,
        note="ours streams through pipes; values arrive at finish()"),
]


# -- measurements ---------------------------------------------------------------------------------------------
def carried_bytes(obj: Any, _seen: set[int] | None = None) -> int:
    """Bytes of tensors / arrays reachable from a metric's attributes (models and flow estimators aside).

    A tensor counts its whole storage (a view of a chunk would count the chunk: exactly the leak we look
    for); an array view counts its base."""
    import torch

    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.untyped_storage().nbytes()
    if isinstance(obj, np.ndarray):
        return (obj.base if isinstance(obj.base, np.ndarray) else obj).nbytes
    if isinstance(obj, dict):
        return sum(carried_bytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(carried_bytes(v, seen) for v in obj)
    if hasattr(obj, "update") and hasattr(obj, "__dict__"):  # the metric itself
        return sum(carried_bytes(v, seen) for k, v in vars(obj).items() if k not in ("_flow", "meta"))
    return 0


def state_after(name: str, params: dict[str, Any], frames: int, hr, sr, chunk: int) -> tuple[int, int]:
    """(carried bytes, window-sum entries) after ``frames`` frames of updates (``hr``/``sr`` repeated)."""
    from infvsr_bench.metrics import get_metric

    m = get_metric(name, **params)
    m.start({"clip": "state", "frames": frames, "fps": 25.0, "scene_cuts": [], "chunk_boundaries": None})
    done = 0
    while done < frames:
        k = min(chunk, frames - done)
        m.update(sr[:k], hr[:k])
        done += k
    state = carried_bytes(m), len(m._win_sum) + len(m._win_count)
    m.finish()
    return state


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Fastest of ``repeat`` runs (the one least disturbed by other load) and its result."""
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=24, help="frames scored by ours (default 24)")
    p.add_argument("--size", default="960x540", help="WIDTHxHEIGHT (default 960x540)")
    p.add_argument("--chunk", type=int, default=8, help="frames per update() for ours (default 8)")
    p.add_argument("--peer-frames", type=int, default=8, help="frames timed for a peer (default 8; rows may cap)")
    p.add_argument("--repeat", type=int, default=2, help="timed runs of ours; the fastest counts (default 2)")
    p.add_argument("--threads", type=int, default=None, help="torch/OpenCV threads (default: library default)")
    p.add_argument("--metrics", default=None, help="comma-separated subset of rows (default: all)")
    p.add_argument("--state-size", default="240x136", help="frame size for the carried-state check")
    p.add_argument("--state-frames", default="1000,10000", help="frame counts of the carried-state check")
    p.add_argument("--no-state", action="store_true", help="skip the carried-state check")
    p.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    args = p.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        sw, sh = (int(v) for v in args.state_size.lower().split("x"))
        state_frames = [int(v) for v in args.state_frames.split(",")]
    except ValueError:
        p.error("--size / --state-size must look like 960x540 and --state-frames like 100,1000")
    if args.frames < 2 or args.chunk < 1 or args.repeat < 1 or args.peer_frames < 2:
        p.error("--frames and --peer-frames must be >= 2, --chunk and --repeat >= 1")
    rows = ROWS
    if args.metrics:
        wanted = [m.strip() for m in args.metrics.split(",") if m.strip()]
        unknown = sorted(set(wanted) - {r.metric for r in ROWS})
        if unknown:
            p.error(f"no row for {', '.join(unknown)} (rows: {', '.join(r.metric for r in ROWS)})")
        rows = [r for r in ROWS if r.metric in wanted]

    import cv2
    import torch

    from infvsr_bench.metrics import get_metric

    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)

    log(f"making {args.frames} frames of {width}x{height} from skimage photographs ...")
    hr8, sr8 = make_frames(args.frames, width, height)
    hr, sr = to_tensor(hr8), to_tensor(sr8)
    meta = {"clip": "bench", "frames": args.frames, "fps": 25.0, "scene_cuts": [], "chunk_boundaries": None}
    load_before = os.getloadavg()

    results: dict[str, dict[str, Any]] = {}
    for row in rows:
        def ours(n: int = args.frames, row: Row = row) -> list[float]:
            m = get_metric(row.metric, **row.params)
            m.start({**meta, "frames": n})
            vals = [m.update(sr[i:min(i + args.chunk, n)], hr[i:min(i + args.chunk, n)])
                    for i in range(0, n, args.chunk)]
            vals = torch.cat(vals)
            late = m.finish()  # metrics whose values arrive at the end of the clip (vmaf)
            if late is not None:
                vals[n - late.numel():] = late
            return vals.tolist()

        log(f"{row.metric}: warm-up, then ours x{args.repeat} ...")
        ours(2)  # first-call allocations, OpenCV/OMP thread pools; not timed
        sec, vals = best_of(ours, args.repeat)
        r: dict[str, Any] = {"metric": row.metric, "params": row.params, "frames": args.frames, "seconds": sec,
                             "fps": args.frames / sec, "mean": float(np.nanmean(vals)), "note": row.note}
        if row.peer_fn is not None:
            n_peer = min(args.frames, args.peer_frames, row.peer_frames or args.peer_frames)
            log(f"{row.metric}: peer ({row.peer}) on {n_peer} frames ...")
            row.peer_fn(hr8, sr8, 2)  # warm-up
            psec, pvals = best_of(lambda fn=row.peer_fn, k=n_peer: fn(hr8, sr8, k), 1)
            ours_same = ours(n_peer)
            r.update({"peer": row.peer, "peer_frames": n_peer, "peer_seconds": psec, "peer_fps": n_peer / psec,
                      "peer_mean": float(np.nanmean(pvals)), "ours_mean_same_frames": float(np.nanmean(ours_same)),
                      "speedup": (args.frames / sec) / (n_peer / psec), "same_values": row.same_values,
                      "peer_values_meaningful": row.peer_values_meaningful})
            if row.same_values:
                a, b = r["ours_mean_same_frames"], r["peer_mean"]
                r["rel_diff"] = abs(a - b) / max(abs(b), 1e-12)
        if not args.no_state:
            st_hr = torch.nn.functional.interpolate(hr[:10], size=(sh, sw), mode="area")
            st_sr = torch.nn.functional.interpolate(sr[:10], size=(sh, sw), mode="area")
            st_hr, st_sr = (st_hr * 255).round() / 255, (st_sr * 255).round() / 255
            state = {}
            for f in state_frames:
                log(f"{row.metric}: carried state after {f} frames at {sw}x{sh} ...")
                state[f] = state_after(row.metric, row.params, f, st_hr, st_sr, 10)
            r["state"] = {str(f): {"carried_bytes": b, "window_entries": w} for f, (b, w) in state.items()}
            r["state_equal"] = len({b for b, _ in state.values()}) == 1
        results[row.metric] = r

    print(f"Metric speed at {width}x{height}, {args.frames} frames, chunk {args.chunk}, CPU, "
          f"torch threads {torch.get_num_threads()}, OpenCV threads {cv2.getNumThreads()}, "
          f"load average before {load_before[0]:.2f}")
    sf = ",".join(str(f) for f in state_frames)
    print(f"{'metric':<18} {'ours f/s':>9} {'peer':<38} {'peer f/s':>9} {'ratio':>7} "
          f"{'ours mean':>11} {'peer mean':>11}  carried bytes @{sf} (frames at {sw}x{sh})")
    for name, r in results.items():
        peer = r.get("peer", "-")
        pf = f"{r['peer_fps']:.2f}" if "peer_fps" in r else "-"
        ratio = f"{r['speedup']:.1f}x" if "speedup" in r else "-"
        pm = f"{r['peer_mean']:.5g}" if "peer_mean" in r else "-"
        if not r.get("peer_values_meaningful", True):
            pm = "(random)"
        om = f"{r['ours_mean_same_frames']:.5g}" if "ours_mean_same_frames" in r else f"{r['mean']:.5g}"
        state = "-"
        if "state" in r:
            state = " / ".join(str(v["carried_bytes"]) for v in r["state"].values())
            state += "  equal" if r["state_equal"] else "  DIFFERENT"
        print(f"{name:<18} {r['fps']:>9.2f} {peer:<38} {pf:>9} {ratio:>7} {om:>11} {pm:>11}  {state}")
    for name, r in results.items():
        if r.get("same_values"):
            print(f"  {name}: ours vs peer mean on the peer's {r['peer_frames']} frames differ by "
                  f"{r['rel_diff']:.2e} (relative)")
        if r["note"]:
            print(f"  {name}: {r['note']}")

    if args.json_path:
        out = {"size": f"{width}x{height}", "frames": args.frames, "chunk": args.chunk,
               "torch_threads": torch.get_num_threads(), "opencv_threads": cv2.getNumThreads(),
               "load_average_before": load_before, "python": platform.python_version(),
               "torch": torch.__version__, "opencv": cv2.__version__, "cpu_count": os.cpu_count(),
               "rows": results}
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
        log(f"wrote {args.json_path}")
    return 0 if all(r.get("state_equal", True) for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
