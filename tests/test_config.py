"""config/: every threshold as data with unit and source; user overrides are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_config


def _leaves(node, path=""):  # noqa: ANN001, ANN202
    if isinstance(node, dict) and "value" in node and set(node) <= {"value", "unit", "source"}:
        yield path, node
    elif isinstance(node, dict):
        for key, val in node.items():
            yield from _leaves(val, f"{path}.{key}".lstrip("."))


def test_every_parameter_has_a_unit_and_a_source() -> None:
    leaves = list(_leaves(load_config().tree))
    assert len(leaves) > 50
    for path, leaf in leaves:
        assert leaf.get("unit"), f"{path} has no unit"
        assert leaf.get("source"), f"{path} has no source"


def test_user_file_overrides_a_value(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(
        "[best_response]\nmin_sd_days = 56\n[response]\nbaseline_lookback_days = { value = 60 }\n"
    )
    cfg = load_config(f)
    assert cfg.value("best_response.min_sd_days") == 56
    assert cfg.value("response.baseline_lookback_days") == 60
    assert cfg.hash != load_config().hash


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[response]\nno_such = 1\n", "unknown setting 'response.no_such'"),
        ("[best_response]\nmin_sd_days = 'six weeks'\n", "must be int"),
        ("response = 3\n", "is a section, not a value"),
        ("[response\n", "not valid TOML"),
    ],
)
def test_a_bad_user_file_is_refused_with_a_clear_message(
    tmp_path: Path, text: str, message: str
) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(f)


def test_operational_settings_do_not_change_the_results_fingerprint(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[run]\nlock_wait_seconds = 5\n")
    assert load_config(f).hash == load_config().hash
