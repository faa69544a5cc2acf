"""One validation of the run options for every entry point: API JSON, UI settings, CLI, batch."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from assistant import EXAMPLES_DIR
from assistant.cli import app
from assistant.options import check_option
from assistant.pipeline import RunOptions
from assistant.ui_state import Settings

runner = CliRunner()

# (option, bad value, what the message must name: the valid range)
BAD = [
    ("steps", math.inf, "from 1 to 1000"),
    ("steps", 1.9, "from 1 to 1000"),
    ("steps", "20", "from 1 to 1000"),
    ("steps", True, "from 1 to 1000"),
    ("steps", 0, "from 1 to 1000"),
    ("seed", "abc", "from 0 to 4294967295"),
    ("seed", 1e308, "from 0 to 4294967295"),
    ("seed", -1, "from 0 to 4294967295"),
    ("guidance", math.nan, "[0, 30]"),
    ("guidance", -math.inf, "[0, 30]"),
    ("guidance", "3", "[0, 30]"),
    ("box_threshold", 1, "[0, 1)"),
    ("text_threshold", 1.0, "[0, 1)"),
    ("text_threshold", -0.1, "[0, 1)"),
    ("lens_blur", "no", "true or false"),
    ("lens_blur", "false", "true or false"),
    ("lens_blur", 0, "true or false"),
    ("backend", ["offline"], "auto, offline, full"),
    ("mask_source", "x" * 10_000, "auto, grounding, decoder"),
]


@pytest.mark.parametrize("name,value,expected", BAD)
def test_every_entry_point_rejects_junk_with_the_same_message(name, value, expected):
    with pytest.raises(ValueError) as direct:
        check_option(name, value)
    message = str(direct.value)
    assert message.startswith(name) and expected in message and len(message) < 200
    with pytest.raises(ValueError, match=name):  # the UI settings
        Settings(**{name: value})
    with pytest.raises(ValueError, match=name):  # the API's options JSON, as a dict
        Settings.from_json({name: value})
    with pytest.raises(ValueError, match=name):  # the library and the CLI
        RunOptions(**{name: value})


@pytest.mark.parametrize("text", ['{"steps": Infinity}', '{"seed": 1e308}', '{"guidance": NaN}',
                                  '{"lens_blur": "no"}', '{"box_threshold": 1}'])
def test_api_options_json_junk_is_a_clear_error(text):
    with pytest.raises(ValueError, match="must be"):
        Settings.from_json(text)


def test_good_values_are_kept_and_integral_floats_become_integers():
    settings, _ = Settings.from_json('{"steps": 20.0, "seed": 4294967295, "guidance": 0, '
                                     '"box_threshold": 0, "text_threshold": 0.99, "lens_blur": false}')
    assert (settings.steps, settings.seed, settings.lens_blur) == (20, 4294967295, False)
    assert isinstance(settings.steps, int)
    opts = settings.run_options()
    assert (opts.guidance, opts.box_threshold, opts.text_threshold) == (0.0, 0.0, 0.99)
    assert RunOptions(steps=None, guidance=None, tile=None).steps is None


@pytest.mark.parametrize("flags,expected", [
    (["--guidance", "nan"], "guidance must be a finite number"),
    (["--seed", "99999999999"], "seed must be a whole number"),
    (["--steps", "0"], "steps must be a whole number"),
    (["--box-threshold", "1"], "box_threshold must be a finite number in [0, 1)"),
    (["--text-threshold", "inf"], "text_threshold must be a finite number"),
])
def test_cli_flags_use_the_same_validation(tmp_path, flags, expected):
    out = tmp_path / "out.png"
    res = runner.invoke(app, ["run", str(EXAMPLES_DIR / "cat_noisy.jpg"), "denoise", "-o", str(out),
                              "--backend", "offline", *flags])
    assert res.exit_code == 2, res.output
    assert expected in res.output and not out.exists()


def test_ground_validates_thresholds(tmp_path):
    res = runner.invoke(app, ["ground", str(EXAMPLES_DIR / "cat_noisy.jpg"), "cat", "-o",
                              str(tmp_path / "m.png"), "--backend", "offline", "--box-threshold", "1.5"])
    assert res.exit_code == 2 and "box_threshold" in res.output
