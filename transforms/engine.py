"""The model runner: SQL models run on a given DuckDB connection, in dependency order.

Models are files under ``transforms/models/{staging,intermediate,marts}/``,
layered like a dbt project: staging turns the input relations (``in_*``) and
the config's tables into clean relations, intermediate models hold the rules,
and a mart is named after the public table it produces (its relation is
``mart_<name>``, so it never shadows that table in the build database). Each
file starts with its dependencies::

    -- depends_on: resp_scopes, resp_rules      (other models, by file name)
    -- reads: in_sessions, in_imaging_studies    (input relations it scans)

A file holds one or more statements; statements create temporary tables,
views or macros. A final bare query (SELECT / WITH) becomes the model's
relation, ``CREATE OR REPLACE TEMP TABLE <relation> AS <query>``. Parameters
arrive one way only: DuckDB variables bound from a frozen
:class:`config.params.TransformParams`. A model stops a run with a
configuration or data error through SQL's ``error()``; the runner raises it as
a ``ValueError`` carrying the model's message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from config.params import TransformParams, bind_all

MODELS_DIR = Path(__file__).parent / "models"
#: SQL that is not a model: staging's per-dataset statements (run by transforms.staging
#: with its own order of checks) and the flag distribution of ``nelmtrack flags``.
SQL_DIR = Path(__file__).parent / "sql"
LAYERS = ("staging", "intermediate", "marts")
MART_PREFIX = "mart_"
_QUERY = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)
_ERROR_PREFIX = "Invalid Input Error: "


def _header(text: str, key: str) -> tuple[str, ...]:
    match = re.search(rf"^-- {key}:(.*)$", text, re.MULTILINE)
    if match is None:
        return ()
    return tuple(name.strip() for name in match.group(1).split(",") if name.strip())


def sql_text(name: str) -> str:
    """The text of ``transforms/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text()


def split_statements(text: str) -> list[str]:
    """A SQL script's statements (comment lines dropped; statements end with ';' at a line end)."""
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    parts = "\n".join(lines).split(";\n")
    return [p.strip().rstrip(";").strip() for p in parts if p.strip().rstrip(";").strip()]


@dataclass(frozen=True)
class Model:
    """One model file: its name (file stem), layer, declared dependencies and inputs."""

    name: str
    layer: str
    path: Path
    depends_on: tuple[str, ...]
    reads: tuple[str, ...]

    @property
    def relation(self) -> str:
        """The relation a final query creates: ``mart_<name>`` for a mart, else the name."""
        return MART_PREFIX + self.name if self.layer == "marts" else self.name

    def statements(self) -> list[str]:
        statements = split_statements(self.path.read_text())
        if statements and _QUERY.match(statements[-1]):
            statements[-1] = f"CREATE OR REPLACE TEMP TABLE {self.relation} AS\n{statements[-1]}"
        return statements


@cache
def models() -> dict[str, Model]:
    """Every model by name; a duplicate name or an unknown dependency is an error."""
    found: dict[str, Model] = {}
    for layer in LAYERS:
        for path in sorted((MODELS_DIR / layer).glob("*.sql")):
            text = path.read_text()
            model = Model(
                path.stem, layer, path, _header(text, "depends_on"), _header(text, "reads")
            )
            if model.name in found:
                raise ValueError(f"two models named {model.name}")
            found[model.name] = model
    for model in found.values():
        unknown = [d for d in model.depends_on if d not in found]
        if unknown:
            raise ValueError(f"model {model.name} depends on unknown model(s) {unknown}")
    return found


def plan(targets: Iterable[str], provided: Iterable[str] = ()) -> list[Model]:
    """The models ``targets`` need, each after its dependencies (depth first, declared order).

    A model named in ``provided`` is taken as already present (the caller
    loaded its relation), so neither it nor its own dependencies are run.
    """
    known, given = models(), set(provided)
    order: list[Model] = []
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in given or state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ValueError(f"models depend on each other: {' -> '.join((*path, name))}")
        if name not in known:
            raise ValueError(f"no model named {name}")
        state[name] = "visiting"
        for dep in known[name].depends_on:
            visit(dep, (*path, name))
        state[name] = "done"
        order.append(known[name])

    for target in targets:
        visit(target, ())
    return order


def _check_reads(con: duckdb.DuckDBPyConnection, order: list[Model]) -> None:
    for model in order:
        for relation in model.reads:
            try:
                con.execute(f"SELECT * FROM {relation} LIMIT 0")
            except duckdb.CatalogException:
                raise ValueError(
                    f"model {model.name} reads {relation}, which the connection lacks"
                ) from None


@contextmanager
def _unordered(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let DuckDB write temp tables in parallel: every mart orders or is compared unordered."""
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")


def run_models(
    con: duckdb.DuckDBPyConnection,
    targets: Iterable[str],
    params: Iterable[TransformParams] = (),
    provided: Iterable[str] = (),
) -> list[Model]:
    """Bind ``params`` and run ``targets`` with their dependencies on ``con``; the models run."""
    order = plan(targets, provided)
    _check_reads(con, order)
    bind_all(con, params)
    with _unordered(con):
        for model in order:
            for statement in model.statements():
                try:
                    con.execute(statement)
                except duckdb.InvalidInputException as exc:
                    message = str(exc)
                    if message.startswith(_ERROR_PREFIX):
                        raise ValueError(message[len(_ERROR_PREFIX) :]) from None
                    raise
    return order


def mart(con: duckdb.DuckDBPyConnection, name: str) -> duckdb.DuckDBPyRelation:
    """The relation of mart ``name`` (after :func:`run_models`)."""
    return con.table(MART_PREFIX + name)


@contextmanager
def in_memory(tables: Mapping[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private in-memory DuckDB holding ``tables`` (Arrow, or anything DuckDB scans) by name.

    The Arrow-level wrappers of the transforms (and the tests) load their inputs
    here and run the same models the pipeline runs in the build database.
    """
    con = duckdb.connect(":memory:")
    try:
        for name, table in tables.items():
            con.register(name, table)
        yield con
    finally:
        con.close()
