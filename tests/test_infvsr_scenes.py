"""InfVSR online scene chunking: cuts where PySceneDetect's offline detect() puts them, 9/12-frame chunks that
never cross a cut, reference re-selection by the content score, a bounded buffer, and the look-behind."""
import cv2
import numpy as np
import pytest
import torch

from infvsr_bench.models.infvsr.scenes import SceneChunker, schedule

from .helpers import torch_threads

LENGTHS = (40, 25, 50, 20)   # scenes: cuts at 40, 65, 115


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared 2-core machine: one torch thread avoids OpenMP spin-waiting (speed only)."""
    with torch_threads(1):
        yield


def _pan(img, n, h=48, w=64):
    return np.stack([img[20:20 + h, 10 + i:10 + i + w] for i in range(n)])


@pytest.fixture(scope="module")
def stream():
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    frames = np.concatenate([_pan(p, n) for p, n in zip(photos, LENGTHS)])  # (135, 48, 64, 3) uint8
    return frames, torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255


def _chunk(t, block, **kw):
    ch = SceneChunker(**kw)
    out, held = [], 0
    for i in range(0, len(t), block):
        out += ch.push(t[i:i + block])
        held = max(held, ch.state_frames())
    return ch, out + ch.finish(), held


@pytest.mark.parametrize("block", [1, 7, 64])
def test_cuts_and_chunks(stream, block):
    frames, t = stream
    ch, chunks, held = _chunk(t, block)
    assert ch.cuts == [40, 65, 115]
    cuts = set(ch.cuts)
    assert torch.equal(torch.cat([c.frames for c in chunks]), t)  # every frame once, in order
    for c in chunks:
        n = c.frames.shape[0]
        assert c.new_scene == (c.start == 0 or c.start in cuts)
        assert not any(c.start < k < c.start + n for k in cuts)  # never across a cut
        nxt = c.start + n
        if c.new_scene:
            assert n == 9 or nxt in cuts or nxt == len(t)
        else:
            assert n == 12 or nxt in cuts or nxt == len(t)
    assert [c.start for c in chunks] == ch.boundaries == schedule(len(t), ch.cuts)
    assert [(c.start, c.frames.shape[0]) for c in chunks[:5]] == [(0, 9), (9, 12), (21, 12), (33, 7), (40, 9)]
    assert held <= ch.lookbehind + 12 + block  # bounded buffer


def test_cut_positions_match_offline_pyscenedetect(stream, tmp_path):
    import scenedetect
    from scenedetect.detectors import ContentDetector

    from .helpers import write_video

    frames, t = stream
    path = write_video(tmp_path / "cuts.mkv", frames, codec="ffv1")
    offline = [s[0].frame_num for s in scenedetect.detect(str(path), ContentDetector())][1:]
    ch, _, _ = _chunk(t, 10)
    assert ch.cuts == offline == [40, 65, 115]


def _score(a, b):
    """PySceneDetect's content score recomputed: mean |ΔH|, |ΔS|, |ΔV| (OpenCV 8-bit HSV), averaged."""
    ha = cv2.cvtColor(np.ascontiguousarray(a[:, :, ::-1]), cv2.COLOR_BGR2HSV).astype(np.int32)
    hb = cv2.cvtColor(np.ascontiguousarray(b[:, :, ::-1]), cv2.COLOR_BGR2HSV).astype(np.int32)
    return float(np.abs(ha - hb).mean(axis=(0, 1)).mean())


def test_reference_reselection_follows_the_content_score(stream):
    frames, t = stream
    _, chunks, _ = _chunk(t, 12)
    ref, updates = None, 0
    for c in chunks:
        if c.new_scene:
            assert not c.update_reference
            ref = c.start
            continue
        expected = c.start - ref >= 15 and _score(frames[ref], frames[c.start]) >= 27.0
        assert c.update_reference == expected
        if expected:
            ref, updates = c.start, updates + 1
    assert updates >= 1  # the panning makes the content drift past the threshold at least once


def test_lookbehind_holds_frames_until_late_cuts_are_known(stream):
    _, t = stream
    ch = SceneChunker()
    assert ch.push(t[:23]) == []  # 9-frame chunk needs frames up to 8 + 15 = 23 read
    got = ch.push(t[23:24])
    assert [(c.start, c.frames.shape[0]) for c in got] == [(0, 9)]


def test_without_detection_it_is_the_plain_9_then_12_schedule(stream):
    _, t = stream
    ch, chunks, _ = _chunk(t, 5, detect=False)
    assert ch.cuts == [] and ch.lookbehind == 0
    assert [c.start for c in chunks] == [0] + list(range(9, 135, 12))
    assert [c.new_scene for c in chunks] == [True] + [False] * (len(chunks) - 1)
    assert not any(c.update_reference for c in chunks)
    assert schedule(135) == [c.start for c in chunks]


def test_bad_thresholds_are_rejected():
    with pytest.raises(ValueError):
        SceneChunker(scene_threshold=0)
