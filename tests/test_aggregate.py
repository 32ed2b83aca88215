"""Aggregation: bootstrap CI properties, streaming metric windows/drift, records round trips."""
import math

import numpy as np
import pytest
import torch

from infvsr_bench import records
from infvsr_bench.aggregate import bootstrap_ci, summarize_metric
from infvsr_bench.metrics.base import StreamingMetric


class _Identity(StreamingMetric):
    name = "ident"
    mode = "NR"

    def frame_values(self, sr, hr):
        return sr.flatten(1)[:, 0].double()


def test_bootstrap_ci_brackets_mean_and_is_deterministic():
    vals = [1.0, 2.0, 3.0, 4.0, 10.0]
    lo, hi = bootstrap_ci(vals)
    assert lo < np.mean(vals) < hi
    assert (lo, hi) == bootstrap_ci(vals)
    assert bootstrap_ci([5.0]) == (5.0, 5.0)
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_summarize_ignores_nan_clips():
    s = summarize_metric([1.0, float("nan"), 3.0], [0.5, 0.5, float("nan")])
    assert s["mean"] == 2.0 and s["n_clips"] == 2 and s["drift_mean"] == 0.5


def test_streaming_metric_windows_and_drift_chunk_invariant():
    x = torch.arange(250, dtype=torch.float32).view(250, 1, 1, 1).expand(250, 3, 1, 1)
    whole = _Identity(window=100)
    whole.update(x)
    parts = _Identity(window=100)
    for i in range(0, 250, 7):
        parts.update(x[i:i + 7])
    a, b = whole.compute(), parts.compute()
    assert a == b
    assert a["windows"] == [49.5, 149.5, 224.5]
    assert a["drift"] == 224.5 - 49.5 and a["mean"] == 124.5


def test_nan_frames_are_skipped_not_zeroed():
    m = _Identity(window=2)
    m.update(torch.tensor([float("nan"), 2.0, 4.0]).view(3, 1, 1, 1).expand(3, 3, 1, 1))
    out = m.compute()
    assert out["mean"] == 3.0 and out["defined_frames"] == 2 and out["frames"] == 3


def test_compute_before_update_raises():
    with pytest.raises(RuntimeError):
        _Identity().compute()


def test_json_records_turn_nonfinite_into_null(tmp_path):
    records.write_json(tmp_path / "a.json", {"x": float("nan"), "y": [1.0, float("inf")]})
    assert records.read_json(tmp_path / "a.json") == {"x": None, "y": [1.0, None]}


def test_clip_lines_last_wins_and_torn_line_ignored(tmp_path):
    records.append_clip(tmp_path, {"clip": "a", "status": "failed"})
    records.append_clip(tmp_path, {"clip": "a", "status": "ok"})
    with open(tmp_path / "clips.jsonl", "a") as f:
        f.write('{"clip": "b", "sta')  # process died mid-write
    assert records.read_clips(tmp_path) == [{"clip": "a", "status": "ok"}]


class _Deferred(StreamingMetric):
    """Scores known only at the end of the clip (like VMAF from its log)."""

    name = "deferred"
    mode = "NR"

    def reset_carry(self):
        self.seen = []

    def frame_values(self, sr, hr):
        self.seen += sr.flatten(1)[:, 0].double().tolist()
        return torch.full((sr.shape[0],), float("nan"), dtype=torch.float64)

    def finish_values(self):
        return torch.tensor(self.seen, dtype=torch.float64)


def test_deferred_values_fold_at_their_own_frames():
    x = torch.arange(250, dtype=torch.float32).view(250, 1, 1, 1).expand(250, 3, 1, 1)
    m = _Deferred(window=100)
    for i in range(0, 250, 30):
        assert torch.isnan(m.update(x[i:i + 30])).all()
    late = m.finish()
    assert late.tolist() == list(range(250))
    ref = _Identity(window=100)
    ref.update(x)
    a, b = m.compute(), ref.compute()
    for k in ("mean", "windows", "drift", "frames", "defined_frames"):
        assert a[k] == b[k]
