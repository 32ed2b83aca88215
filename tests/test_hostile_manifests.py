"""Hostile manifests and names: everything the runner relies on is checked where it is read, with the field
named, and no name taken from data can put a file outside the run folder."""
import copy
import json
from pathlib import Path

import pytest

from infvsr_bench import datasets, names, records, runner
from infvsr_bench.errors import BadInput, DatasetIntegrityError

from .helpers import one_line_error, run_cli


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return datasets.build("synthetic-long", max_frames=2, data_dir=tmp_path_factory.mktemp("data"))


def _set(path, value):
    def edit(m):
        *head, last = path
        for k in head:
            m = m[k]
        if value is KeyError:
            del m[last]
        else:
            m[last] = value
    return edit


def _dup(m):
    m["clips"][1]["id"] = m["clips"][0]["id"]


@pytest.mark.parametrize("edit,needle", [
    (_dup, "appears twice"),
    (_set(["clips"], []), "the clip list is empty"),
    (_set(["clips", 0, "fps"], -25), "fps must be a positive number"),
    (_set(["clips", 0, "fps"], 0), "fps must be a positive number"),
    (_set(["clips", 0, "frames"], 0), "frames must be at least 1"),
    (_set(["clips", 0, "scene_cuts"], [1, 1]), "strictly increasing"),
    (_set(["clips", 1, "scene_cuts"], [1, 0]), "strictly increasing"),
    (_set(["clips", 0, "scene_cuts"], [5]), "outside 1..1"),
    (_set(["clips", 0, "fps"], KeyError), "clip entry 0: field 'fps' is missing"),
    (_set(["clips", 2, "lr", "sha256"], KeyError), "lr: field 'sha256' is missing"),
    (_set(["scale"], KeyError), "top level: field 'scale' is missing"),
    (_set(["clips", 0, "frames"], "3"), "field 'frames' has the wrong type"),
    (_set(["clips", 0, "id"], "../../escaped-clip"), "is not a safe name"),
    (_set(["clips", 0, "id"], "/tmp/abs"), "is not a safe name"),
    (_set(["name"], "../up"), "dataset name '../up' is not a safe name"),
    (_set(["clips", 0, "hr", "path"], "../../elsewhere.mkv"), "must lie inside the dataset folder"),
])
def test_a_hostile_manifest_is_refused_naming_what_is_wrong(built, tmp_path, edit, needle):
    m = json.loads(built.read_text())
    edit(m)
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps(m))
    with pytest.raises(DatasetIntegrityError, match=None) as e:
        datasets.load_manifest(bad)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_duplicate_or_escaping_clip_ids_exit_2_before_anything_is_written(capsys, built, tmp_path):
    m = json.loads(built.read_text())
    for cid, needle in ((m["clips"][0]["id"], "appears twice"), ("../../escaped-clip", "not a safe name")):
        bad = copy.deepcopy(m)
        bad["clips"][1]["id"] = cid
        (built.parent / "hostile.json").write_text(json.dumps(bad))  # beside the media it names
        code, _, err = run_cli(capsys, "run", "--method", "bicubic", "--metrics", "psnr", "--dataset",
                               str(built.parent / "hostile.json"), "--out", str(tmp_path / "runs" / "r"))
        assert code == 2 and needle in one_line_error(err)
        assert not (tmp_path / "runs").exists() and not (tmp_path / "escaped-clip.npz").exists()


def test_names_that_become_paths_cannot_leave_their_folder(tmp_path):
    for bad in ("..", ".", "../x", "a/b", "/abs", "", ".hidden", "x" * 129, None):
        assert not names.is_safe(bad)
        with pytest.raises(BadInput):
            records.frames_path(tmp_path, bad)
    with pytest.raises(BadInput, match="method name"):
        runner.default_run_dir(tmp_path, "synthetic-long", "../../evil", None)
    with pytest.raises(BadInput, match="dataset name"):
        runner.default_run_dir(tmp_path, "../evil", "bicubic", None)
    assert runner.default_run_dir(tmp_path, "ds", "basicvsr++", 5) == tmp_path / "ds-max5" / "basicvsr++"
    # metric labels carry free parameters (a weights path): their file names are slugs, never a path
    for label in ("lpips:weights_path=../../../x.pth", "psnr:a=/etc/passwd", "..", ":::"):
        s = names.slug(label)
        assert "/" not in s and s not in ("", ".", "..") and Path(s).name == s


def test_a_method_card_with_an_unsafe_name_is_refused(tmp_path):
    from infvsr_bench.methods.cards import load_card

    card = tmp_path / "..toml"
    card.write_text('name = "."\n')
    with pytest.raises(BadInput, match="not a safe name"):
        load_card(card)


@pytest.mark.parametrize("fps,cuts,needle", [("-25.0", "[8, 16]", "fps must be a positive number"),
                                             ("0", "[8, 16]", "fps must be a positive number"),
                                             ("25.0", "[16, 8]", "strictly increasing"),
                                             ("25.0", "[8, 8]", "strictly increasing"),
                                             ("25.0", "[0, 8]", "in 1..23")])
def test_a_recipe_with_impossible_fps_or_cuts_is_refused_before_building(tmp_path, fps, cuts, needle):
    recipe = tmp_path / "bad.toml"
    recipe.write_text(f'description = "x"\nscale = 4\ndegradation = "bicubic"\nfps = {fps}\nwidth = 64\n'
                      f'height = 48\n[[clips]]\nid = "a"\nphotos = ["astronaut"]\nframes = 24\ncuts = {cuts}\n')
    with pytest.raises(BadInput, match=needle):
        datasets.build(recipe, data_dir=tmp_path / "data")
    assert not (tmp_path / "data").exists()
