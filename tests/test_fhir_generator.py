"""`generate --format fhir`: every resource is FHIR R4 (fhir.resources R4B models) but the
spoiled dates FHIR cannot hold, and the spoil log names the same lines as in the CSV form."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from demo_cohort import generate
from demo_cohort.fhir import RESOURCE_FILES


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fhir_cohort")
    generate(out, patients=20, seed=5, fmt="fhir")
    return out


def _spoiled(folder: Path) -> list[dict]:
    with (folder / "_generator" / "spoiled_rows.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_every_resource_is_valid_r4_but_the_dates_fhir_cannot_hold(cohort: Path) -> None:
    invalid = set()
    for path in sorted(cohort.glob("*.ndjson")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            resource = json.loads(line)
            try:
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            except ValueError:
                invalid.add((path.name, number))
    # Study, lesion and lab dates that are not dates stay where FHIR wants a dateTime.
    expected = {
        (r["source_file"], int(r["source_row"]))
        for r in _spoiled(cohort)
        if r["reason_code"] == "bad_date" and r["dataset"] in ("imaging", "lesions", "labs")
    }
    assert expected
    assert invalid == expected


def test_one_file_per_resource_kind_and_the_spoil_log_names_its_lines(cohort: Path) -> None:
    names = {p.name for p in cohort.glob("*.ndjson")}
    assert names == {f"{kind}_part001.ndjson" for kind in RESOURCE_FILES.values()}
    lines = {p.name: p.read_text().splitlines() for p in cohort.glob("*.ndjson")}
    for row in _spoiled(cohort):
        assert int(row["source_row"]) <= len(lines[row["source_file"]])
    csv_form = cohort.parent / "csv_form"
    generate(csv_form, patients=20, seed=5, fmt="csv")
    per_dataset = {
        d: len((csv_form / f"{d}_part001.csv").read_text().splitlines()) - 1 for d in RESOURCE_FILES
    }
    assert per_dataset == {d: len(lines[f"{k}_part001.ndjson"]) for d, k in RESOURCE_FILES.items()}
