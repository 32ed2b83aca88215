"""Bounded memory: the peak RSS of a whole run at 4N frames is about that at N, not 4x the frames."""
import subprocess
import sys
import textwrap

from infvsr_bench import datasets

_RECIPE = """
description = "memory test: one clip"
source = "synthetic"
seed = 3
scale = 4
degradation = "bicubic"
fps = 25.0
width = 320
height = 192

[[clips]]
id = "one"
photos = ["astronaut", "coffee"]
frames = {frames}
cuts = [{cut}]

[[clips.layers]]
photo = "chelsea"
shape = "disc"
size = 0.3
period = 100.0
max_speed = 3.0
"""

_PROBE = textwrap.dedent("""
    import resource, sys
    from infvsr_bench import runner
    spec = runner.RunSpec(method="bicubic", dataset=sys.argv[1], max_frames=int(sys.argv[2]),
                          out=sys.argv[3], progress=False)
    res = runner.execute(runner.prepare(spec))
    assert res.summary["clips"]["frames"] == int(sys.argv[2])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""")


def _peak_mb(dataset, n, out):
    res = subprocess.run([sys.executable, "-c", _PROBE, str(dataset), str(n), str(out)], capture_output=True,
                         text=True, check=True)
    return int(res.stdout.strip().splitlines()[-1]) / 1024


def test_peak_memory_does_not_grow_with_length(tmp_path):
    n = 160
    recipe = tmp_path / "one-clip.toml"
    recipe.write_text(_RECIPE.replace("{frames}", str(4 * n)).replace("{cut}", str(n // 2)))
    manifest = datasets.build(str(recipe))
    small = _peak_mb(manifest, n, tmp_path / "a")
    large = _peak_mb(manifest, 4 * n, tmp_path / "b")
    # Keeping the 3N extra HR frames alone (float32, 320x192) would add ~340 MiB; allocator noise is ~tens.
    hr_frames_mb = 3 * n * 320 * 192 * 3 * 4 / 2**20
    assert large - small < 0.25 * hr_frames_mb, (small, large)
