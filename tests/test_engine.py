"""The model runner (transforms.engine), the parameter objects and the build's resources."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from config import load_config
from config.params import DeriveParams, EngineSettings, TransformParams, bind_all
from transforms.engine import models, plan, run_models
from warehouse import start_build


def test_every_model_declares_known_dependencies_and_lives_in_a_layer() -> None:
    found = models()
    assert {m.layer for m in found.values()} == {"staging", "intermediate", "marts"}
    for model in found.values():
        assert all(dep in found for dep in model.depends_on), model.name
        assert all(read.startswith("in_") for read in model.reads), model.name


def test_a_model_runs_after_everything_it_depends_on() -> None:
    order = [m.name for m in plan(["session_responses", "best_responses", "session_flags"])]
    position = {name: i for i, name in enumerate(order)}
    for name in order:
        for dep in models()[name].depends_on:
            assert position[dep] < position[name], (dep, name)
    assert order[-1] == "session_flags"


def test_provided_relations_are_not_recomputed() -> None:
    order = [m.name for m in plan(["best_responses"], provided=["best_assessments", "best_scopes"])]
    assert order == ["best_responses"]


def test_a_missing_input_relation_is_one_clear_error() -> None:
    con = duckdb.connect()
    with pytest.raises(ValueError, match="reads in_sessions, which the connection lacks"):
        run_models(con, ["best_scopes"])


def test_a_model_error_is_a_value_error_with_its_message() -> None:
    """R1-R15's criteria list: an unknown criteria stops the run (resp_rules uses error())."""
    params = DeriveParams.from_config(load_config()).response
    bad = TransformParams("response", {**params.values, "criteria": ["RECIST1.1", "WHO"]})
    with pytest.raises(ValueError, match="response.criteria: unknown criteria WHO"):
        run_models(duckdb.connect(), ["resp_rules"], [bad])


def test_parameter_objects_are_frozen_and_agree_where_they_share_a_name() -> None:
    params = DeriveParams.from_config(load_config())
    with pytest.raises(TypeError):
        params.response.values["criteria"] = []  # type: ignore[index]
    bind_all(duckdb.connect(), params.all())  # `criteria`: one value for responses and best
    clash = TransformParams("other", {"criteria": ["Choi"]})
    with pytest.raises(ValueError, match="parameter criteria differs"):
        bind_all(duckdb.connect(), [params.response, clash])


def test_no_transform_and_no_parameter_builder_reads_the_config() -> None:
    """Each transform gets one frozen parameter object built from the run's config."""
    repo = Path(__file__).resolve().parents[1]
    sources = [*sorted((repo / "transforms").rglob("*.py")), repo / "config" / "params.py"]
    readers = [p.relative_to(repo) for p in sources if "load_config" in p.read_text()]
    assert readers == []


def test_parameters_and_dq_reference_use_the_run_config_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A DQ run compares with the run's config: building its lookups reads no other one."""
    import config
    import expectations.runner
    from expectations.runner import build_reference

    cfg = load_config()

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a hidden load_config() call")

    monkeypatch.setattr(config, "load_config", refuse)
    monkeypatch.setattr(expectations.runner, "load_config", refuse)  # its own imported name
    DeriveParams.from_config(cfg)
    ref = build_reference(cfg, cfg.section("dq"))
    assert ref.lookups["dq_ref_analytes"].num_rows == len(cfg.section("labs")["analytes"])


def test_the_build_connection_gets_the_configured_memory_limit_and_threads(
    tmp_path: Path,
) -> None:
    spill = tmp_path / "spill"
    settings = EngineSettings(
        memory_limit_gb=0.5, threads=1, temp_directory=str(spill), staging_partition_rows=1000
    )
    build = start_build(tmp_path / "wh.duckdb", "run-1", engine=settings)
    try:
        con = build.con
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert limit == "488.2 MiB"  # 512 MB (DuckDB's MB are 1000 x 1000 bytes)
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
        assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(spill)
    finally:
        build.abort()


def test_engine_settings_come_from_config_and_do_not_change_the_fingerprint(
    tmp_path: Path,
) -> None:
    cfg = load_config()
    assert EngineSettings.from_config(cfg).memory_limit_gb == cfg.value("engine.memory_limit_gb")
    user = tmp_path / "user.toml"
    user.write_text("[engine]\nmemory_limit_gb = 1.0\n")
    assert load_config(user).hash == cfg.hash
