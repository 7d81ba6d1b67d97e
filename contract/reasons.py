"""The quarantine's vocabulary: why a source row was quarantined, and what was done with it.

``ReasonCode`` is the one list of reason codes, each with its one-line
meaning; staging, the lab normaliser, the response stage (R1), the run
summary, the data-quality suites and the demo cohort's spoilers name their
codes from it, and the table of ARCHITECTURE.md is ``markdown_table()``
(``python -m contract`` prints it). ``Action`` says what the pipeline
did with the row. SQL models write a code as a plain literal; a test checks
that every such literal is a member.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """One kind of problem with a source row; ``meaning`` is the docs' one-line explanation."""

    meaning: str

    def __new__(cls, value: str, meaning: str) -> ReasonCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member

    MISSING_REQUIRED = (
        "missing_required",
        "a required column is empty (incl. a measured non-nodal target without a longest diameter)",
    )
    BAD_DATE = "bad_date", "a date or datetime that cannot be parsed"
    BAD_NUMBER = "bad_number", "a number (or lab value) that cannot be parsed"
    BAD_BOOLEAN = "bad_boolean", "a boolean outside true/false/yes/no/1/0/y/n"
    OUT_OF_RANGE = (
        "out_of_range",
        "a number outside its allowed range (negative or absurd diameter, % outside 0–100, "
        "segment outside 1–8, lab value outside the physiological range of L3)",
    )
    UNKNOWN_VOCABULARY = (
        "unknown_vocabulary",
        "a coded value outside its vocabulary (sex, role, status, organ, …)",
    )
    UNKNOWN_MODALITY = (
        "unknown_modality",
        "a session modality that is not TAE, cTACE, DEB-TACE, TARE or a known alias",
    )
    UNKNOWN_TERRITORY = (
        "unknown_territory",
        "a treated territory that is neither a segment list nor a named lobe",
    )
    UNKNOWN_UNIT = (
        "unknown_unit",
        "a lab unit that cannot be converted to the canonical unit (L3)",
    )
    DUPLICATE_ROW = (
        "duplicate_row",
        "a row identical to an earlier one (the first is kept)",
    )
    DUPLICATE_KEY = (
        "duplicate_key",
        "a second row with the same key in the same file of a one-row-per-key dataset "
        "(patient, session, study) (the first is kept)",
    )
    SUPERSEDED = (
        "superseded",
        "a row replaced by the row with the same key in a later file (file-name order): "
        "a correction, action `superseded`",
    )
    MALFORMED_ROW = (
        "malformed_row",
        "a CSV line that does not split into the header's columns (unterminated or stray "
        "quote, another number of fields, NUL byte) or an Excel row with values beyond the "
        "header; `reason` names the line",
    )
    DATE_TOO_EARLY = (
        "date_too_early",
        "a date before `ingest.min_date`, the earliest plausible date",
    )
    DATE_AFTER_RUN = (
        "date_after_run",
        "a date after the day of the run, in the site's time zone",
    )
    DATE_BEFORE_BIRTH = (
        "date_before_birth",
        "a dated event (session, study, lesion, lab, death, last contact) in a year before "
        "the patient's birth_year",
    )
    DEATH_BEFORE_SESSION_OR_STUDY = (
        "death_before_session_or_study",
        "a death date before one of the patient's sessions or studies; the death date is "
        "nulled (action `value_nulled`)",
    )
    ORPHAN_STUDY = (
        "orphan_study",
        "a lesion row whose (patient, study_date) has no imaging study",
    )
    NO_SUBJECT = (
        "no_subject",
        "a record of a standard-format file (SDTM, FHIR) that names no patient (no USUBJID, "
        "an Observation without a subject)",
    )
    UNMAPPED_TEST_CODE = (
        "unmapped_test_code",
        "a standard-format record whose test or procedure code (TRTESTCD, LBTESTCD, LOINC, "
        "SNOMED/CPT) is in none of the mappings of `config/sdtm.toml` / `config/fhir.toml`",
    )
    UNMAPPED_UNIT = (
        "unmapped_unit",
        "a standard-format tumour measurement in a length unit outside the mapping",
    )
    TARGET_AFTER_BASELINE = (
        "target_after_baseline",
        "a target lesion first seen after the course baseline (response-criteria R1), unless "
        "its baseline row was itself rejected for its measurement",
    )


class Action(StrEnum):
    """What the pipeline did with a source row that broke the input contract."""

    #: A bad value in an optional column (inputs contract): the value is stored
    #: as NULL and the rest of the row loads.
    VALUE_NULLED = "value_nulled"
    #: A bad required value, a duplicate, a row that refers to nothing: the row
    #: is not loaded.
    ROW_REJECTED = "row_rejected"
    #: A later file's row with the same key replaced this one (a correction, not
    #: an error): the row is not loaded.
    SUPERSEDED = "superseded"


#: Actions whose source row is not in its fact table. A row counts once in
#: "rows read = rows loaded + rows removed", whatever else was recorded about it.
ROW_REMOVING_ACTIONS: frozenset[Action] = frozenset({Action.ROW_REJECTED, Action.SUPERSEDED})

#: Columns of a quarantine row as the transforms produce it (the warehouse adds run_id).
QUARANTINE_COLUMNS = (
    "dataset",
    "source_file",
    "source_row",
    "column_name",
    "reason_code",
    "action",
    "reason",
)


def sql_list(actions: frozenset[Action] = ROW_REMOVING_ACTIONS) -> str:
    """``('row_rejected', 'superseded')``: the actions as a SQL list, for ``action IN …``."""
    return "(" + ", ".join(f"'{a.value}'" for a in sorted(actions)) + ")"


def markdown_table() -> str:
    """The reason-code table of ARCHITECTURE.md ("Quarantine reason codes"), one row per code."""
    rows = [f"| `{code.value}` | {code.meaning} |" for code in ReasonCode]
    return "\n".join(["| code | meaning |", "|---|---|", *rows])
