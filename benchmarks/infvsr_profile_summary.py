"""Merge the per-step JSON files of ``infvsr_profile_gpu.sh`` into one and print a short summary (the lines
the README's profile section quotes). Usage: ``python infvsr_profile_summary.py STEP_JSON_DIR OUT.json``."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _run(r: dict) -> str:
    mem = f", peak {r['peak_allocated_gib']:.1f} GiB" if "peak_allocated_gib" in r else ""
    return (f"{r['seconds']:.2f} s ({r['fps']:.1f} frames/s), first frame {r['first_frame_s']:.2f} s{mem}, "
            f"state {r['state_gib']:.2f} GiB")


def summary(merged: dict) -> list[str]:
    lines = []
    speed = merged.get("speed", {})
    for tag in ("plain", "optimised"):
        for n, v in speed.get(tag, {}).get("videos", {}).items():
            lines.append(f"{tag:>9} {n:>4} frames: {_run(v['timed'])}")
            top = sorted((r for r in v["profiled"]["stages"] if "." not in r["stage"]),
                         key=lambda r: -r["seconds"])[:4]
            lines.append("           top stages: " + ", ".join(
                f"{r['stage']} {r['seconds']:.2f} s ({100 * r['share']:.0f}%"
                + (f", {r['tflops']:.0f} TFLOP/s" if "tflops" in r else "") + ")" for r in top))
    for n in speed.get("plain", {}).get("videos", {}):
        try:
            a = speed["plain"]["videos"][n]["timed"]["seconds"]
            b = speed["optimised"]["videos"][n]["timed"]["seconds"]
            lines.append(f"speed-up {n} frames: x{a / b:.2f}")
        except KeyError:
            pass
    par = merged.get("parity", {}).get("parity")
    if par:
        o, r = par["optimised_vs_plain"], par["plain_rerun_vs_plain"]
        lines.append(f"parity ({par['frames']} frames): optimised vs plain max |diff| {o['max_abs']:.3g}, PSNR "
                     f"{o['psnr_db']:.1f} dB (>= 45: {par['psnr_at_least_45db']}); plain rerun {r['psnr_db']:.1f} dB")
    for key in ("1080p", "4k"):
        size = merged.get(key, {}).get("size")
        if size:
            for n, v in size["videos"].items():
                lines.append(f"{key} ({size['sr_size'][0]}x{size['sr_size'][1]}) {n} frames: {_run(v['run'])}")
    abl = merged.get("ablate", {}).get("ablate")
    if abl:
        lines.append(f"ablation ({abl['frames']} frames, optimised with one speed-up off): " + ", ".join(
            f"{k} off {v['seconds']:.2f} s" for k, v in abl["without"].items()))
    return lines


def main(argv: list[str]) -> int:
    src, dst = Path(argv[0]), Path(argv[1])
    merged = {p.stem: json.loads(p.read_text()) for p in sorted(src.glob("*.json"))}
    dst.write_text(json.dumps(merged, indent=1))
    print("\n".join(["== summary"] + summary(merged)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
