"""Damaged dataset videos are never scored: bytes flipped inside one FFV1 packet (file size unchanged) make the
decoder log a slice CRC mismatch and conceal the slice; the reader fails on it instead of yielding the frame.
"""
from pathlib import Path

import numpy as np
import pytest

from infvsr_bench import datasets, records
from infvsr_bench.errors import VideoError
from infvsr_bench.video_io import FrameReader, probe

from .helpers import one_line_error, photo_frames, run_cli, write_video


def flip_inside_packet(path: Path, index: int, count: int = 3) -> None:
    """Invert ``count`` bytes in the middle of the ``index``-th video packet, in place (size unchanged)."""
    import av

    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    pos, size = packets[index]
    data = bytearray(path.read_bytes())
    for k in range(count):
        data[pos + size // 2 + k] ^= 0xFF
    path.write_bytes(bytes(data))


def test_reader_fails_at_the_damaged_frame_and_never_yields_it(tmp_path):
    frames = photo_frames(12)
    path = write_video(tmp_path / "v.mkv", frames)
    size = path.stat().st_size
    flip_inside_packet(path, 5)
    assert path.stat().st_size == size
    assert probe(path).frames == 12  # frame 0 is intact: the damage shows only when frame 5 is decoded
    got = []
    with pytest.raises(VideoError, match=r"damaged: decoding frame 5, libav reported: slice CRC mismatch"):
        for chunk in FrameReader(path, chunk=4).iter_uint8():
            got.append(chunk)
    assert len(got) == 1 and np.array_equal(got[0], frames[:4])  # frames 4..7 (holding 5) never came out
    assert sum(len(c) for c in FrameReader(path, chunk=4, max_frames=5).iter_uint8()) == 5  # before it: fine
    good = write_video(tmp_path / "good.mkv", frames)  # the watch stays quiet on a sound file afterwards
    assert np.array_equal(np.concatenate(list(FrameReader(good, chunk=5).iter_uint8())), frames)


def test_damaged_dataset_video_fails_its_clip_even_with_no_verify(capsys, tmp_path):
    m = datasets.resolve("synthetic-long", max_frames=4)
    clip = m["clips"][1]["id"]
    lr = Path(m["root"]) / m["clips"][1]["lr"]["path"]
    flip_inside_packet(lr, 2)
    common = ["run", "--method", "bicubic", "--dataset", m["root"], "--metrics", "psnr"]
    code, _, err = run_cli(capsys, *common, "--out", str(tmp_path / "v"))  # hashes checked: refused before work
    assert code == 2 and "sha256 mismatch" in one_line_error(err) and not (tmp_path / "v").exists()
    code, _, err = run_cli(capsys, *common, "--no-verify", "--out", str(tmp_path / "r"))
    assert code == 1 and f"bicubic/{clip}" in err
    recs = {r["clip"]: r for r in records.read_clips(tmp_path / "r")}
    assert recs[clip]["status"] == "failed"
    assert "damaged: decoding frame 2" in recs[clip]["error"] and "CRC mismatch" in recs[clip]["error"]
    assert sorted(r["status"] for r in recs.values()) == ["failed", "ok", "ok"]
    flip_inside_packet(lr, 0)  # damage at the first frame is found before any work, hashes or not
    code, _, err = run_cli(capsys, *common, "--no-verify", "--out", str(tmp_path / "z"))
    assert code == 2 and f"clip {clip}" in one_line_error(err) and "CRC mismatch" in err
    assert not (tmp_path / "z").exists()
