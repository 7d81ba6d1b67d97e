"""Fuzz (issue 9, point 9): a dataset file corrupted at the byte level either refuses the
run (one line, a user error, the published warehouse unchanged) or loads with every record
accounted for.

Corruptions: truncation, stray quotes, NUL bytes, line breaks and delimiters inserted,
the whole file re-delimited, bytes of another encoding, a shuffled header, other line
ends (CRLF, CR, Excel's trailing comma, blank lines), a BOM. A small
cohort is published once; each example corrupts one file of a copy of its source and
runs ingest and staging in process (``delivery_helpers``): the later stages do not
change what is read, refused or quarantined.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from delivery_helpers import ingest_and_stage, records_in, sha256
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_helpers import make_source, only_file

from flows.cli import _user_errors
from sources import DATASETS

pytestmark = pytest.mark.slow

INSERTS = (b'"', b'""', b"\x00", b",", b";", b"\t", b"\r", b"\n", b"\xe9", b"\xff\xfe", b"\xc3\xa9")
OPERATION = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(INSERTS)),
    st.tuples(st.just("redelimit"), st.sampled_from([b";", b"\t", b"|"])),
    st.tuples(st.just("shuffle_header"), st.integers(0, 2**16)),
    st.tuples(st.just("latin1_line"), st.floats(0, 1)),
    st.tuples(st.just("line_ends"), st.sampled_from([b"\r\n", b"\r", b",\n", b"\n\n"])),
    st.just(("bom",)),
)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("fuzz")
    source = make_source(root / "src", patients=6, seed=5)
    db = root / "w.duckdb"
    ingest_and_stage(source, db, publish=True)
    return source, db, sha256(db)


def corrupt(data: bytes, operation: tuple) -> bytes:
    kind = operation[0]
    if kind == "truncate":
        return data[: int(len(data) * operation[1])]
    if kind == "insert":
        at = int(len(data) * operation[1])
        return data[:at] + operation[2] + data[at:]
    if kind == "redelimit":
        return data.replace(b",", operation[1])
    if kind == "line_ends":
        return data.replace(b"\n", operation[1])
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "shuffle_header":
        header, _, rest = data.partition(b"\n")
        names = header.split(b",")
        random.Random(operation[1]).shuffle(names)
        return b",".join(names) + b"\n" + rest
    # A line whose accented letter is in cp1252 amid UTF-8 lines (mixed encodings).
    lines = data.split(b"\n")
    at = int(len(lines) * operation[1])
    return b"\n".join([*lines[:at], "x,café,ü".encode("cp1252"), *lines[at:]])


@settings(
    # A few dozen in CI (about 15 s); NELMTRACK_FUZZ_EXAMPLES=1000 for a longer hunt.
    max_examples=int(os.environ.get("NELMTRACK_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    dataset=st.sampled_from(DATASETS),
    operations=st.lists(OPERATION, min_size=1, max_size=3),
    accept_shrink=st.booleans(),
)
def test_corrupted_file_is_refused_in_one_line_or_fully_accounted_for(
    baseline: tuple[Path, Path, str],
    tmp_path_factory: pytest.TempPathFactory,
    dataset: str,
    operations: list[tuple],
    accept_shrink: bool,
) -> None:
    clean, db, published_sha = baseline
    source = Path(shutil.copytree(clean, tmp_path_factory.mktemp("case") / "src"))
    target = only_file(source, dataset)
    data = target.read_bytes()
    for operation in operations:
        data = corrupt(data, operation)
    target.write_bytes(data)
    try:
        outcome = ingest_and_stage(source, db, accept_shrink=accept_shrink)
    except _user_errors() as exc:  # the CLI prints it as one line and exits 2
        message = str(exc)
        assert message and "\n" not in message
        assert "NELM-" not in message.upper()
        assert sha256(db) == published_sha
        assert not list(db.parent.glob(db.name + ".building-*"))
        return
    read, loaded, quarantined = outcome.file_counts[target.name]
    assert read == records_in(data)
    assert loaded + quarantined == read
    for counts in outcome.counts.values():
        assert counts["read"] == counts["loaded"] + counts["quarantined"]
    for columns in outcome.raw_columns.values():
        assert not any("nelm-" in c for c in columns)
    assert sha256(db) == published_sha
