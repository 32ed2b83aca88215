"""Test-wide settings: offline, weights from ../shared/weights when present, data in a temp folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
_shared_weights = Path(__file__).resolve().parents[1].parent / "shared" / "weights"
if "INFVSR_BENCH_WEIGHTS" not in os.environ and _shared_weights.is_dir():
    os.environ["INFVSR_BENCH_WEIGHTS"] = str(_shared_weights)


@pytest.fixture(autouse=True)
def _isolated_data(tmp_path_factory, monkeypatch):
    """Every test builds datasets into its own temp data folder, never the user's cache."""
    monkeypatch.setenv("INFVSR_BENCH_DATA", str(tmp_path_factory.mktemp("data")))
