"""One frozen parameter object per transform, built from the config.

SQL receives parameters one way only: as DuckDB variables, read with
``getvariable('name')``. A :class:`TransformParams` holds the variables of one
transform (responses, best responses, labs) and binds them to a connection;
tables of the config (the lab aliases, unit conversions, analyte ranges and
modality-hint rules) travel as lists of structs that the staging model
``lab_lookups`` turns into relations, or as MAPs (:func:`sql_map`) where SQL
looks a code up. No transform reads the config itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from config import Config

#: The ``response`` parameters the response models read.
RESPONSE_PARAMETERS = (
    "baseline_lookback_days",
    "too_small_mm",
    "nodal_normal_short_axis_mm",
    "recist_pr_max_fraction_of_baseline",
    "recist_pd_min_fraction_of_nadir",
    "recist_pd_min_increase_mm",
    "mrecist_pr_max_fraction_of_baseline",
    "mrecist_pd_min_fraction_of_nadir",
    "mrecist_pd_min_increase_mm",
    "easl_pr_max_fraction_of_baseline",
    "easl_pd_above_fraction_of_nadir",
    "easl_pd_min_increase_mm2",
    "choi_pr_max_fraction_of_baseline",
    "choi_pd_min_fraction_of_nadir",
    "choi_pd_min_increase_mm",
    "choi_density_pr_max_fraction_of_baseline",
    "criteria",
)

#: Analytes whose last value before a session feeds P1, P2 and G1-G5 (labs-and-flags).
PRE_SESSION_ANALYTES = ("bilirubin", "albumin", "creatinine", "ldh", "ast", "platelets")


@dataclass(frozen=True)
class TransformParams:
    """The SQL variables of one transform (name -> value), read-only."""

    transform: str
    values: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def __reduce__(self) -> tuple:
        """Picklable (a shard task on a Dask worker gets its parameters with its arguments)."""
        return (TransformParams, (self.transform, dict(self.values)))

    def bind(self, con: duckdb.DuckDBPyConnection) -> None:
        """Set every value as a DuckDB variable of ``con``."""
        for name, value in self.values.items():
            con.execute(f"SET VARIABLE {name} = ?", [value])


def sql_map(table: Mapping[str, Any], value: Callable[[Any], Any] = str) -> dict[str, list]:
    """A config code table as a TransformParams value DuckDB binds as a MAP.

    DuckDB binds a Python dict of exactly ``key`` and ``value`` lists as a MAP; any
    other dict becomes a STRUCT, whose fields cannot be looked up by a record's code.
    Keys are text; ``value`` converts each value (text by default).
    """
    return {"key": [str(k) for k in table], "value": [value(v) for v in table.values()]}


def bind_all(con: duckdb.DuckDBPyConnection, params: Iterable[TransformParams]) -> None:
    """Bind several transforms' variables; a name two of them set must have one value."""
    seen: dict[str, tuple[str, Any]] = {}
    for p in params:
        for name, value in p.values.items():
            if name in seen and seen[name][1] != value:
                raise ValueError(
                    f"parameter {name} differs between {seen[name][0]} and {p.transform}"
                )
            seen[name] = (p.transform, value)
        p.bind(con)


def response_params(section: Mapping[str, Any]) -> TransformParams:
    """The responses' variables from ``cfg.section("response")`` (every parameter needed)."""
    missing = [name for name in RESPONSE_PARAMETERS if name not in section]
    if missing:
        raise ValueError(f"response parameter(s) missing: {', '.join(missing)}")
    return TransformParams("response", {name: section[name] for name in RESPONSE_PARAMETERS})


def best_response_params(
    cfg: Config, overrides: Mapping[str, Any] | None = None
) -> TransformParams:
    """The best-response variables: ``cfg``'s (the run's config) with ``overrides``.

    The criteria are those the timepoint engine computes (``response.criteria``):
    one setting enables a criteria everywhere. An unknown override is an error.
    ``cfg`` is required: a default read here would hide which config a run used.
    """
    defaults = {**cfg.section("best_response"), "criteria": cfg.value("response.criteria")}
    unknown = sorted(set(overrides or {}) - set(defaults))
    if unknown:
        raise ValueError(f"unknown best-response parameter(s): {', '.join(unknown)}")
    return TransformParams("best_response", {**defaults, **(overrides or {})})


def lab_params(section: Mapping[str, Any], cfg: Config) -> TransformParams:
    """The labs' variables from ``cfg.section("labs")``: scalars, lists, and its tables.

    The session baseline study (B3) the flags read is the responses' one, under one
    setting, ``response.baseline_lookback_days`` of ``cfg`` (the run's config),
    unless ``section`` names it. ``cfg`` is required: a default read here would
    hide which config a run used.
    """
    lookback = section.get("baseline_lookback_days")
    if lookback is None:
        lookback = cfg.value("response.baseline_lookback_days")
    analytes = section["analytes"]
    ki67 = f"{section['hint_ki67_tare_min_pct']:g}"
    tables = {
        "lab_test_aliases": [
            {"alias": alias, "analyte": analyte}
            for alias, analyte in section["test_aliases"].items()
        ],
        "lab_unit_aliases": [
            {"spelling": spelling, "unit_family": family}
            for spelling, family in section["unit_aliases"].items()
        ],
        "lab_unit_conversions": [
            {
                "analyte": analyte,
                "unit_family": family,
                "multiply": float(multiply),
                "divide": float(divide),
            }
            for analyte, by_family in section["unit_conversions"].items()
            for family, (multiply, divide) in by_family.items()
        ],
        "lab_analytes": [
            {
                "analyte": name,
                "canonical_unit": a["canonical_unit"],
                "physiological_min": float(a["physiological_min"]),
                "physiological_max": float(a["physiological_max"]),
            }
            for name, a in analytes.items()
        ],
        "lab_modality_hint_rules": [
            {
                "rule_id": rule_id,
                "hint": r.get("hint"),
                "reason": r["reason"].replace("{ki67}", ki67),
            }
            for rule_id, r in section["modality_hint_rules"].items()
        ],
    }
    scalars = {name: v for name, v in section.items() if not isinstance(v, Mapping)}
    return TransformParams(
        "labs",
        {
            **scalars,
            **tables,
            "flag_analytes": list(analytes),
            "pre_session_analytes": list(PRE_SESSION_ANALYTES),
            "baseline_lookback_days": lookback,
        },
    )


def survival_params(section: Mapping[str, Any]) -> TransformParams:
    """The survival mart's variables from ``cfg.section("report")`` (config/survival.toml)."""
    return TransformParams(
        "survival",
        {
            "landmark_days": int(section["landmark_days"]),
            "landmark_counts_unconfirmed": bool(section["landmark_counts_unconfirmed"]),
        },
    )


@dataclass(frozen=True)
class DeriveParams:
    """Everything :func:`transforms.derive.derive_tables` needs, from one config."""

    response: TransformParams
    best_response: TransformParams
    labs: TransformParams
    survival: TransformParams

    @classmethod
    def from_config(cls, cfg: Config) -> DeriveParams:
        return cls(
            response=response_params(cfg.section("response")),
            best_response=best_response_params(cfg),
            labs=lab_params(cfg.section("labs"), cfg),
            survival=survival_params(cfg.section("report")),
        )

    def all(self) -> tuple[TransformParams, ...]:
        return (self.response, self.best_response, self.labs, self.survival)


@dataclass(frozen=True)
class EngineSettings:
    """The build connection's DuckDB resources (config section ``engine``)."""

    memory_limit_gb: float
    threads: int  # 0: DuckDB's default, one per core
    temp_directory: str  # "": DuckDB's default, beside the database file
    staging_partition_rows: int  # a larger lesions or labs dataset is staged in patient parts

    @classmethod
    def from_config(cls, cfg: Config) -> EngineSettings:
        section = cfg.section("engine")
        return cls(
            memory_limit_gb=float(section["memory_limit_gb"]),
            threads=int(section["threads"]),
            temp_directory=str(section["temp_directory"]),
            staging_partition_rows=int(section["staging_partition_rows"]),
        )

    def apply(self, con: duckdb.DuckDBPyConnection) -> None:
        """Bound ``con``'s memory (spilling beyond it to the temp directory) and threads."""
        con.execute(f"SET memory_limit = '{int(self.memory_limit_gb * 1024)}MB'")
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        if self.temp_directory:
            con.execute("SET temp_directory = ?", [self.temp_directory])
