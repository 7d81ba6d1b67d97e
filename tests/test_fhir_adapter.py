"""The FHIR R4 adapter (sources/fhir.py): ndjson and Bundles onto the contract datasets."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_config
from sources import fhir

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
EXT = "urn:nelmtrack:fhir:"
LAB = [{"coding": [{"system": "x", "code": "laboratory"}]}]


@pytest.fixture(scope="module")
def params() -> dict:
    return load_config().section("fhir")


def _ext(name: str, **value: object) -> dict:
    return {"url": EXT + name, **value}


def _tumor(subject: str | None, components: list[dict], **extra: object) -> dict:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "21889-1"}]},
        "effectiveDateTime": "2026-03-14",
        "focus": [{"identifier": {"value": "L1"}}],
        "bodySite": {"coding": [{"system": "http://snomed.info/sct", "code": "10200004"}]},
        "component": components,
        "extension": [
            _ext("lesion-role", valueCode="target"),
            _ext("lesion-status", valueCode="measured"),
            _ext("liver-segment", valueInteger=7),
        ],
        **extra,
    }
    if subject:
        resource["subject"] = {"reference": subject}
    return resource


def _size(code: str, value: float, unit: str, system: str = LOINC) -> dict:
    return {
        "code": {"coding": [{"system": system, "code": code}]},
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def _by_dataset(mapped: list[fhir.Mapped]) -> dict[str, fhir.Mapped]:
    return {m.dataset: m for m in mapped}


def test_bulk_ndjson_maps_each_resource_type_with_its_line(tmp_path: Path, params: dict) -> None:
    lines = [
        {
            "resourceType": "Patient",
            "id": "P1",
            "gender": "female",
            "birthDate": "1956-04-02",
            "extension": [
                _ext("ki67-pct", valueDecimal=4.5),
                _ext("functional-syndrome", valueBoolean=True),
            ],
        },
        {
            "resourceType": "Procedure",
            "status": "completed",
            "subject": {"reference": "https://ehr.example/fhir/Patient/P1"},
            "performedDateTime": "2026-02-01",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "441525007"}]},
            "extension": [_ext("treated-territory", valueString="5,6,7,8")],
        },
        {
            "resourceType": "Procedure",
            "subject": {"reference": "Patient/P1"},
            "performedDateTime": "2026-03-01",
            "code": {"text": "Y90"},  # no code of the map: its text, for staging's aliases
        },
        {
            "resourceType": "ImagingStudy",
            "subject": {"reference": "Patient/P1"},
            "started": "2026-03-14",
            "modality": [{"system": "DCM", "code": "PT"}],
            "extension": [_ext("ascites", valueBoolean=False)],
        },
        _tumor("Patient/P1", [_size("33728-7", 2.35, "cm"), _size("33729-5", 12, "mm")]),
        {
            "resourceType": "Observation",
            "category": LAB,
            "code": {"coding": [{"system": LOINC, "code": "1975-2"}], "text": "Bilirubin"},
            "subject": {"reference": "Patient/P1"},
            "effectiveDateTime": "2026-03-10T08:30:00Z",
            "valueQuantity": {"value": 0.2, "comparator": "<", "system": UCUM, "code": "mg/dL"},
        },
        {"resourceType": "Encounter", "id": "E1"},  # not read, not counted
    ]
    text = "\n".join(json.dumps(r) for r in lines) + "\n"
    (tmp_path / "export.ndjson").write_text(text)
    got = _by_dataset(fhir.read([tmp_path / "export.ndjson"], tmp_path, params))

    patients = got["patients"].table.to_pylist()
    assert patients[0]["patient_id"] == "P1"
    assert patients[0]["sex"] == "F"
    assert patients[0]["birth_year"] == "1956"
    assert patients[0]["ki67_pct"] == "4.5"
    assert patients[0]["functional"] == "true"
    assert patients[0]["source_row"] == 1

    sessions = got["sessions"].table.to_pylist()
    assert [s["modality"] for s in sessions] == ["cTACE", "Y90"]
    assert [s["patient_id"] for s in sessions] == ["P1", "P1"]
    assert sessions[0]["treated_territory"] == "5,6,7,8"
    assert [s["source_row"] for s in sessions] == [2, 3]

    imaging = got["imaging"].table.to_pylist()[0]
    assert (imaging["modality"], imaging["ascites"], imaging["source_row"]) == ("PET", "false", 4)

    lesion = got["lesions"].table.to_pylist()[0]
    assert lesion["lesion_id"] == "L1"
    assert lesion["organ"] == "liver"
    assert (lesion["role"], lesion["status"], lesion["liver_segment"]) == (
        "target",
        "measured",
        "7",
    )
    assert float(lesion["longest_diameter_mm"]) == pytest.approx(23.5)  # 2.35 cm
    assert lesion["short_axis_mm"] == "12"

    lab = got["labs"].table.to_pylist()[0]
    assert (lab["test"], lab["value"], lab["unit"]) == ("1975-2", "<0.2", "mg/dL")
    assert lab["collected_at"] == "2026-03-10T08:30:00Z"
    assert all(m.rejected.num_rows == 0 for m in got.values())
    assert sum(m.rows_read for m in got.values()) == 6  # the Encounter is not a contract record


def test_unmappable_records_are_rejected_with_a_reason(tmp_path: Path, params: dict) -> None:
    vital = {
        "resourceType": "Observation",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        "subject": {"reference": "Patient/P1"},
    }
    no_subject = _tumor(None, [_size("33728-7", 20, "mm")])
    inches = _tumor("Patient/P1", [_size("33728-7", 1, "[in_i]")])
    lines = [json.dumps(vital), "{not json", json.dumps(no_subject), "", json.dumps(inches)]
    (tmp_path / "Observation.ndjson").write_text("\n".join(lines) + "\n")
    got = _by_dataset(fhir.read([tmp_path / "Observation.ndjson"], tmp_path, params))

    labs = got["labs"]
    assert labs.table.num_rows == 0
    assert labs.rejected.to_pylist() == [
        {
            "source_row": 1,
            "reason_code": "unmapped_test_code",
            "column_name": "test",
            "reason": labs.rejected["reason"][0].as_py(),
        }
    ]
    lesions = got["lesions"]
    assert lesions.table.num_rows == 0
    rejected = {
        (r["source_row"], r["reason_code"], r["column_name"]) for r in lesions.rejected.to_pylist()
    }
    # The malformed line is counted with the file's main dataset (lesions: three records).
    assert rejected == {
        (2, "malformed_row", None),
        (3, "no_subject", "patient_id"),
        (5, "unmapped_unit", "longest_diameter_mm"),
    }
    assert lesions.rows_read == 3
    assert "1" not in "".join(lesions.rejected["reason"].to_pylist())  # no value echoed


def test_bundle_entries_and_uuid_references(tmp_path: Path, params: dict) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:aaa", "resource": {"resourceType": "Patient", "id": "P9"}},
            {
                "fullUrl": "urn:uuid:bbb",
                "resource": {
                    "resourceType": "Observation",
                    "category": LAB,
                    "code": {"text": "albumin"},
                    "subject": {"reference": "urn:uuid:aaa"},
                    "effectiveDateTime": "2026-01-05",
                    "valueQuantity": {"value": 38, "unit": "g/L"},
                },
            },
        ],
    }
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    got = _by_dataset(fhir.read([tmp_path / "bundle.json"], tmp_path, params))
    assert got["patients"].table["source_row"].to_pylist() == [1]
    lab = got["labs"].table.to_pylist()[0]
    assert (lab["patient_id"], lab["test"], lab["value"], lab["unit"], lab["source_row"]) == (
        "P9",
        "albumin",
        "38",
        "g/L",
        2,
    )


def test_claims_ndjson_and_json_only() -> None:
    assert fhir.claims(Path("Observation.ndjson"))
    assert fhir.claims(Path("bundle.JSON"))
    assert not fhir.claims(Path("labs.csv"))


def test_validation_is_advisory_and_names_fields_not_values(
    tmp_path: Path, params: dict, caplog: pytest.LogCaptureFixture
) -> None:
    bad = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": "Patient/SECRET-ID"},
        "started": "yesterday",
    }
    (tmp_path / "ImagingStudy.ndjson").write_text(json.dumps(bad) + "\n")
    with caplog.at_level(logging.WARNING, logger="sources.fhir"):
        got = fhir.read([tmp_path / "ImagingStudy.ndjson"], tmp_path, params)
    assert got[0].table.to_pylist()[0]["study_date"] == "yesterday"  # staging says bad_date
    assert "ImagingStudy: started" in caplog.text
    assert "SECRET-ID" not in caplog.text and "yesterday" not in caplog.text


def test_crlf_lines_and_a_last_line_without_newline(tmp_path: Path, params: dict) -> None:
    patients = [{"resourceType": "Patient", "id": f"P{i}"} for i in range(3)]
    text = "\r\n".join(json.dumps(p) for p in patients)  # no newline after the last
    (tmp_path / "Patient.ndjson").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (got,) = fhir.read([tmp_path / "Patient.ndjson"], tmp_path, params)
    assert got.table["patient_id"].to_pylist() == ["P0", "P1", "P2"]
    assert got.table["source_row"].to_pylist() == [1, 2, 3]
    assert got.rows_read == 3


def test_a_file_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path, params: dict) -> None:
    from sources import SourceError

    (tmp_path / "Patient.ndjson").write_bytes(b'{"resourceType": "Patient", "id": "\xff"}\n')
    with pytest.raises(SourceError, match="Patient.ndjson is not valid UTF-8"):
        fhir.read([tmp_path / "Patient.ndjson"], tmp_path, params)


def test_a_single_resource_json_is_one_record_and_a_manifest_none(
    tmp_path: Path, params: dict, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "p.json").write_text(json.dumps({"resourceType": "Patient", "id": "P5"}))
    manifest = {"transactionTime": "2026-11-29T00:00:00Z", "output": [{"type": "Patient"}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="sources.fhir"):
        got = fhir.read([tmp_path / "p.json", tmp_path / "manifest.json"], tmp_path, params)
    assert [(m.name, m.dataset, m.rows_read) for m in got] == [("p.json", "patients", 1)]
    assert "manifest.json: not a FHIR resource" in caplog.text


_LINE_KINDS = {
    "patient": json.dumps({"resourceType": "Patient", "id": "P1"}),
    "lab": json.dumps(
        {
            "resourceType": "Observation",
            "category": LAB,
            "code": {"coding": [{"system": LOINC, "code": "1975-2"}]},
            "subject": {"reference": "Patient/P1"},
            "valueQuantity": {"value": 1.1, "unit": "mg/dL"},
        }
    ),
    "vital": json.dumps({"resourceType": "Observation", "code": {"text": "pulse"}}),
    "orphan": json.dumps({"resourceType": "Procedure", "code": {"text": "TAE"}}),
    "garbage": "{not json",
    "array": "[1, 2]",
    "blank": "   ",
    "encounter": json.dumps({"resourceType": "Encounter", "id": "E1"}),
}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(sorted(_LINE_KINDS)), min_size=1, max_size=30))
def test_every_line_is_loaded_or_rejected_exactly_once(kinds: list[str]) -> None:
    """Invariant: each non-blank line of a read resource type is one loaded or rejected record."""
    params = load_config().section("fhir")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "export.ndjson").write_text("\n".join(_LINE_KINDS[k] for k in kinds) + "\n")
        got = fhir.read([root / "export.ndjson"], root, params)
    seen = [
        row
        for m in got
        for row in m.table["source_row"].to_pylist() + m.rejected["source_row"].to_pylist()
    ]
    expected = [i for i, k in enumerate(kinds, start=1) if k not in ("blank", "encounter")]
    assert sorted(seen) == expected
    assert sum(m.rows_read for m in got) == len(expected)
