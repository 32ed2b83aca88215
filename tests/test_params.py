"""Method and metric parameters are declared and typed: an unknown name (with did-you-mean), a value of the
wrong type or out of range, an empty --method/--metrics, a crop larger than the frame or a card whose program
does not exist is one line and exit 2 before any work — never a substituted value or a failure per clip.
"""

import pytest

from infvsr_bench import params
from infvsr_bench.methods import METHODS, get_method
from infvsr_bench.metrics import METRICS

from .helpers import one_line_error, run_cli, tiny_dataset
from .test_external import write_card


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    """A working card for the fake program, and two whose program does not exist (a path, a bare name)."""
    folder = tmp_path_factory.mktemp("cards")
    good = write_card(folder)
    text = good.read_text()
    bad_path = folder / "gone-path.toml"
    bad_path.write_text(text.replace('name = "fake-vsr"', 'name = "gone-path"')
                        .replace('"{python}", "{script}"', '"/nonexistent/vsr-program", "{script}"'))
    bad_name = folder / "gone-name.toml"
    bad_name.write_text(text.replace('name = "fake-vsr"', 'name = "gone-name"')
                        .replace('"{python}", "{script}"', '"no-such-vsr-program-xyz", "{script}"'))
    return {"good": good, "path": bad_path, "name": bad_name}


@pytest.mark.parametrize("method,metrics,needle", [
    ("bicubic:chunk_frames=-1", "psnr", "method bicubic: chunk_frames must be >= 1, got -1"),
    ("lanczos:chunk_frames=0", "psnr", "method lanczos: chunk_frames must be >= 1, got 0"),
    ("bicubic:chunk_frames=abc", "psnr", "method bicubic: chunk_frames must be an integer, got 'abc'"),
    ("bicubic:scale=x", "psnr", "method bicubic: scale must be an integer, got 'x'"),
    ("bicubic:chunk_fram=2", "psnr", "unknown parameter 'chunk_fram'; did you mean 'chunk_frames'? "
                                     "(valid: chunk_frames, scale)"),
    ("precomputed:dir={tmp}:scale=abc", "psnr", "method precomputed: scale must be an integer, got 'abc'"),
    ("bicubic", "psnr:crop_bordr=4", "metric psnr: unknown parameter 'crop_bordr'; did you mean 'crop_border'?"),
    ("bicubic", "ssim:window=0", "metric ssim: window must be >= 1, got 0"),
    ("bicubic", "psnr:max_db=inf", "metric psnr: max_db must be a finite number"),
    ("bicubic", "psnr:crop_border=100", "crop_border=100 leaves 0x120 of a 192x320 frame"),
    ("bicubic", "tof:crop=tecogan:skip_ends=-2", "metric tof: skip_ends must be >= 0, got -2"),
    ("", "psnr", "--method is empty"),
    ("bicubic", " ,", "--metrics is empty"),
    ("external:card={good}:chunk_frames=0", "psnr", "method fake-vsr: chunk_frames must be >= 1, got 0"),
    ("external:card={good}:timeout_s=soon", "psnr", "method fake-vsr: timeout_s must be a number, got 'soon'"),
    ("external:card={good}:startup=abc", "psnr", "method fake-vsr: startup must be a number, got 'abc'"),
    ("external:card={good}:mood=ok", "psnr", "unknown parameter 'mood'; did you mean 'mode'?"),
    ("external:card={path}", "psnr", "program /nonexistent/vsr-program not found or not executable"),
    ("external:card={name}", "psnr", "program no-such-vsr-program-xyz not found or not executable"),
])
def test_bad_parameters_are_one_line_before_any_work(capsys, tmp_path, dataset, cards, method, metrics, needle):
    method = method.format(tmp=tmp_path, **cards)
    code, out, err = run_cli(capsys, "run", "--method", method, "--metrics", metrics, "--dataset", str(dataset),
                             "--out", str(tmp_path / "r"))
    assert code == 2 and needle in one_line_error(err) and out == ""
    assert "__init__" not in err and not (tmp_path / "r").exists()


def test_valid_parameters_still_run_and_command_line_numbers_fit_text_parameters(capsys, tmp_path, dataset,
                                                                                  cards, monkeypatch):
    monkeypatch.setattr("infvsr_bench.plots.plot_runs", lambda runs, out: [])  # figures are not under test
    code, _, err = run_cli(capsys, "run", "--method", "bicubic:chunk_frames=1", "--metrics", "psnr:crop_border=4",
                           "--dataset", str(dataset), "--out", str(tmp_path / "r"))
    assert code == 0, err
    m = get_method("external", card=str(cards["good"]), mode=3, modes=True, startup=1)  # text, text, a number
    assert (m.params["mode"], m.params["modes"], m.params["startup"]) == ("3", "true", 1)


def test_every_registered_component_declares_checkable_parameters():
    """The design, not one example: each built-in method and metric has a schema from its signature, every
    limit it declares names one of its parameters, and its numeric parameters are typed."""
    for reg in (METHODS, METRICS):
        for name in reg.names():
            if name == "external" or name in getattr(reg, "cards", {}):
                continue  # cards take their parameters from the card (checked by External itself)
            factory = reg.get(name)
            schema = params.schema(factory)
            assert schema is not None, f"{reg.kind} {name} takes **params: its parameters cannot be checked"
            assert set(params.declared_limits(factory)) <= set(schema), f"{reg.kind} {name}: limit on no param"
            for key in ("scale", "chunk_frames", "window", "crop_border", "batch", "batch_size"):
                if key in schema:
                    assert schema[key].types == (int,) and schema[key].limits, f"{reg.kind} {name}: {key}"
