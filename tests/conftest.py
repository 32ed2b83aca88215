"""Test-wide settings: offline, data in a temp folder. Real weight files are found where `infvsr-bench weights
fetch` puts them (`make test` fetches the ones the suite uses); tests that need an absent one skip, saying so."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_data(tmp_path_factory, monkeypatch):
    """Every test builds datasets into its own temp data folder, never the user's cache."""
    monkeypatch.setenv("INFVSR_BENCH_DATA", str(tmp_path_factory.mktemp("data")))
