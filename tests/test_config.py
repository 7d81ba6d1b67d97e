"""config/: every threshold as data with unit and source; user overrides are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import PARAMETER_KEYS, ConfigError, load_config


def _leaves(node, path=""):  # noqa: ANN001, ANN202
    if isinstance(node, dict) and "value" in node and set(node) <= PARAMETER_KEYS:
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


def test_the_unit_of_a_parameter_is_the_one_config_states() -> None:
    """Text quoting a cut-off (report labels) takes the unit from the same parameter."""
    cfg = load_config()
    assert cfg.unit("labs.flag_bilirubin_min_mg_dl") == "mg/dL"
    assert cfg.unit("ingest.max_activity_gbq") == "GBq"
    with pytest.raises(ConfigError, match="has no unit"):
        cfg.unit("ingest.vocab")
    with pytest.raises(ConfigError, match="no setting 'labs.no_such'"):
        cfg.unit("labs.no_such")


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


# --- ranges and units (issue 9, point 11) -------------------------------------------------


def _numeric(value) -> bool:  # noqa: ANN001
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in items
    )


def test_every_numeric_parameter_declares_its_range() -> None:
    numeric = [(p, leaf) for p, leaf in _leaves(load_config().tree) if _numeric(leaf["value"])]
    assert len(numeric) > 80
    for path, leaf in numeric:
        assert "min" in leaf and "max" in leaf, f"{path} declares no allowed range"
        items = leaf["value"] if isinstance(leaf["value"], list) else [leaf["value"]]
        assert all(leaf["min"] <= x <= leaf["max"] for x in items), path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[labs]\nlab_lookback_days = -30\n",
            r"setting 'labs.lab_lookback_days' = -30 is outside its allowed range "
            r"0 to 3650 \(day\)",
        ),
        ("[response]\nbaseline_lookback_days = { value = -1 }\n", "outside its allowed range"),
        (
            "[response]\nrecist_pr_max_fraction_of_baseline = 1.5\n",
            "outside its allowed range 0 to 1",
        ),
        ("[labs]\nflag_bilirubin_min_mg_dl = -2.0\n", "outside its allowed range 0 to 60"),
        ("[dq]\nwarning_max_failure_pct = 150.0\n", "outside its allowed range 0 to 100"),
        ("[best_response]\nmin_sd_days = -42\n", "outside its allowed range 0 to 365"),
    ],
)
def test_config_value_out_of_range_refused(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(f)


def test_config_value_at_the_edge_of_its_range_accepted(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(
        "[labs]\nlab_lookback_days = 0\n[response]\nrecist_pr_max_fraction_of_baseline = 1\n"
    )
    cfg = load_config(f)
    assert cfg.value("labs.lab_lookback_days") == 0
    assert cfg.value("response.recist_pr_max_fraction_of_baseline") == 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[labs]\nflag_bilirubin_min_mg_dl = { value = 34.2, unit = "umol/L" }\n',
            "setting 'labs.flag_bilirubin_min_mg_dl' is in mg/dL, not umol/L",
        ),
        ('[labs]\nlab_lookback_days = { value = 1, unit = "month" }\n', "is in day, not month"),
        ('[response]\ntoo_small_mm = { value = 0.5, unit = "inch" }\n', "is in mm, not inch"),
    ],
)
def test_config_override_unit_mismatch_refused(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(f)


def test_config_override_unit_converted_when_factor_known(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(
        '[labs]\nlab_lookback_days = { value = 4, unit = "weeks" }\n'
        'flag_albumin_max_g_dl = { value = 30, unit = "g/L" }\n'
        '[response]\ntoo_small_mm = { value = 0.4, unit = "cm" }\n'
        'baseline_lookback_days = { value = 60, unit = "days" }\n'
    )
    cfg = load_config(f)
    assert cfg.value("labs.lab_lookback_days") == 28
    assert cfg.value("labs.flag_albumin_max_g_dl") == pytest.approx(3.0)
    assert cfg.value("response.too_small_mm") == pytest.approx(4.0)
    assert cfg.value("response.baseline_lookback_days") == 60


def test_config_converted_override_is_range_checked_too(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[best_response]\nmin_sd_days = { value = 60, unit = "weeks" }\n')
    with pytest.raises(ConfigError, match="= 420 is outside its allowed range 0 to 365"):
        load_config(f)


def test_config_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from flows.cli import main

    f = tmp_path / "c.toml"
    f.write_text("[labs]\nlab_lookback_days = -30\n")
    (tmp_path / "src").mkdir()
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--source",
            str(tmp_path / "src"),
            "--db",
            str(tmp_path / "w.duckdb"),
            "--config",
            str(f),
        ],
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "lab_lookback_days" in lines[0] and "Traceback" not in result.output


def test_transform_settings_stay_within_the_warehouse_vocabularies_data_quality_checks() -> None:
    """dq.toml lists the public tables' vocabularies (warehouse contract); the settings
    the transforms write values from must name nothing outside them, or data quality
    would fail every run: the modality aliases' targets, the BOR ranking (every overall
    response, E2), and the criteria computed."""
    cfg = load_config()
    assert set(cfg.value("ingest.modality_aliases").values()) <= set(
        cfg.value("dq.treatment_modality")
    )
    assert sorted(cfg.value("best_response.response_ranking")) == sorted(
        cfg.value("dq.overall_response")
    )
    assert set(cfg.value("response.criteria")) <= set(cfg.value("dq.criteria"))
