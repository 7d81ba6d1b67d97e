"""The data-quality suites as data: one suite per input dataset and per public table.

Modelled on the OHDSI DataQualityDashboard: every check has a Kahn category
(conformance: value, relational, computational; completeness; plausibility:
atemporal, temporal), a severity and a threshold. A check reads one column of
its suite's per-row *frame*, which ``expectations/sql/<side>_<table>.sql``
derives with DuckDB (set-based: per-row booleans, codes and parsed numbers,
with per-patient or per-study aggregates joined to the row); the runner
reduces it to failing and checked rows per patient. Only those counts reach
Great Expectations and its Data Docs: never an identifier, a date, a value
or free text.

Severity, by design:

* ``fatal``: the public tables are broken (duplicate keys, values outside a
  contract vocabulary, references the pipeline guarantees: a lesion's study,
  a response's study or session; a derived row's patient in ``patients``).
  The flow does not publish. A *fact* row whose patient is missing from
  ``patients`` is only an ``error``: the ingestion keeps that patient's other
  rows, and computes no derived row for them.
* ``error``: rows the ingestion quarantines (input suites) and derived values
  that disagree with their definition (output suites).
* ``warning``: clinically odd but possible (RECIST baseline choices, grade vs
  Ki-67, completeness shares).

A check's allowed failure share is ``[dq] <severity>_max_failure_pct`` unless
it names its own threshold; ``share`` checks name the minimum share instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.inputs import PATIENT_KEY, ROW_KEYS
from contract.reasons import ReasonCode

KAHN_CATEGORIES = (
    "conformance.value",
    "conformance.relational",
    "conformance.computational",
    "completeness",
    "plausibility.atemporal",
    "plausibility.temporal",
)
SEVERITIES = ("fatal", "error", "warning")
KINDS = ("true", "false", "in_set", "between", "share")


@dataclass(frozen=True)
class Check:
    """One expectation: what it reads, how it is judged and how it is tagged.

    ``kind`` says when a row of the frame fails: ``true``/``false`` (a boolean
    column that should hold only that value), ``in_set`` (a code outside the
    vocabulary named ``values``), ``between`` (a number outside ``low``..``high``,
    reference names or numbers), ``share`` (a false row, where the threshold is
    the minimum share of true rows). NULL in a frame means "does not apply to
    this row" and is neither checked nor counted.
    ``requires`` names other datasets/tables the check needs; the check is
    left out when one is absent from the run.
    """

    name: str
    column: str
    kind: str
    kahn: str
    severity: str
    description: str
    values: str | None = None
    low: str | float | None = None
    high: str | float | None = None
    threshold: str | None = None
    reason_code: ReasonCode | None = None  # the quarantine's code for the same rows
    requires: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (
            self.kind not in KINDS
            or self.kahn not in KAHN_CATEGORIES
            or self.severity not in SEVERITIES
        ):
            raise ValueError(f"check {self.name}: unknown kind, Kahn category or severity")
        if self.reason_code is not None:
            ReasonCode(self.reason_code)  # a code of the quarantine, or ValueError
        if self.kind == "share" and self.threshold is None:
            raise ValueError(f"share check {self.name} needs a minimum-share threshold")

    @property
    def threshold_param(self) -> str:
        return self.threshold or f"{self.severity}_max_failure_pct"


@dataclass(frozen=True)
class Suite:
    """The checks of one dataset (``side`` "inputs") or public table (``side`` "warehouse")."""

    side: str
    table: str
    checks: tuple[Check, ...]

    @property
    def name(self) -> str:
        return f"{self.side}.{self.table}"

    @property
    def model(self) -> str:
        """The SQL file (without .sql) in expectations/sql that builds the frame."""
        return f"{self.side}_{self.table}"


# --- small constructors so each check reads as one line of intent -----------------------


def flag(name: str, kahn: str, severity: str, description: str, **kw) -> Check:
    """A boolean column that must be true."""
    return Check(name, name, "true", kahn, severity, description, **kw)


def never(name: str, kahn: str, severity: str, description: str, **kw) -> Check:
    """A boolean column that must be false (the column names the problem)."""
    return Check(name, name, "false", kahn, severity, description, **kw)


def vocab(column: str, values: str, severity: str, reason_code: ReasonCode | None = None) -> Check:
    return Check(
        f"{column}_in_vocabulary",
        column,
        "in_set",
        "conformance.value",
        severity,
        f"{column} belongs to the {values} vocabulary",
        values=values,
        reason_code=reason_code,
    )


def boolean(column: str) -> Check:
    return Check(
        f"{column}_is_boolean",
        column,
        "in_set",
        "conformance.value",
        "error",
        f"{column} is empty or one of the accepted boolean spellings",
        values="boolean",
        reason_code=ReasonCode.BAD_BOOLEAN,
    )


def in_range(
    column: str,
    low: str | float | None,
    high: str | float | None,
    severity: str,
    description: str,
    reason_code: ReasonCode | None = None,
) -> Check:
    return Check(
        f"{column}_in_range",
        column,
        "between",
        "plausibility.atemporal",
        severity,
        description,
        low=low,
        high=high,
        reason_code=reason_code,
    )


def raw_range(
    column: str, low: str | float | None, high: str | float | None, severity: str, description: str
) -> Check:
    """A range check on raw rows: the ingestion quarantines the same rows as ``out_of_range``."""
    return in_range(column, low, high, severity, description, ReasonCode.OUT_OF_RANGE)


def required(*columns: str) -> list[Check]:
    return [
        flag(
            f"{c}_given",
            "completeness",
            "error",
            f"{c} is given (required by the input contract)",
            reason_code=ReasonCode.MISSING_REQUIRED,
        )
        for c in columns
    ]


def readable(column: str, what: str, reason_code: ReasonCode) -> Check:
    return flag(
        f"{column}_readable",
        "conformance.value",
        "error",
        f"{column} is empty or a readable {what}",
        reason_code=reason_code,
    )


def not_in_future(
    column: str, severity: str = "error", reason_code: ReasonCode | None = None
) -> Check:
    return flag(
        f"{column}_not_in_future",
        "plausibility.temporal",
        severity,
        f"{column} is not later than the day of the run",
        reason_code=reason_code,
    )


def duplicate_row() -> Check:
    return never(
        "is_duplicate_row",
        "conformance.relational",
        "error",
        "the row is not identical to an earlier row",
        reason_code=ReasonCode.DUPLICATE_ROW,
    )


def duplicate_key(dataset: str) -> Check:
    """Raw rows: a later row with a key of an earlier one (the ingestion keeps the first).

    The keys are the contract's (``contract.inputs.ROW_KEYS``), so the text says
    what the frame's SQL counts: a row repeating any one of them.
    """
    keys = ", or ".join(
        " and ".join("patient" if c == PATIENT_KEY else c for c in key) for key in ROW_KEYS[dataset]
    )
    return never(
        "is_duplicate_key",
        "conformance.relational",
        "error",
        f"no earlier row has the same key ({keys})",
        reason_code=ReasonCode.DUPLICATE_KEY,
    )


def unique_key(key: str) -> Check:
    """Public tables: every row of a key held by several rows fails (a broken run)."""
    return never(
        "is_duplicate_key",
        "conformance.relational",
        "fatal",
        f"no other row has the same key ({key})",
    )


def days_not_negative(name: str, description: str) -> Check:
    """A published number of days that is a duration: a negative one means a broken run.

    Fatal by design: staging quarantines the dates that would make one
    (death before a session or study, dates before birth), so a negative
    duration left is a defect of the pipeline, and nothing is published.
    """
    return flag(name, "plausibility.temporal", "fatal", description)


def known(name: str, what: str, table: str, severity: str, requires: tuple[str, ...]) -> Check:
    return flag(
        name,
        "conformance.relational",
        severity,
        f"the row's {what} exists in {table}",
        requires=requires,
    )


PCT = (0.0, 100.0)

# --- input suites: the raw rows as read, before the quarantine --------------------------

INPUT_SUITES = (
    Suite(
        "inputs",
        "patients",
        (
            *required("patient_key"),
            duplicate_row(),
            duplicate_key("patients"),
            vocab("sex", "sex", "error", ReasonCode.UNKNOWN_VOCABULARY),
            readable("birth_year", "number", ReasonCode.BAD_NUMBER),
            raw_range(
                "birth_year",
                "min_birth_year",
                None,
                "error",
                "birth_year is not before the plausibility limit",
            ),
            flag(
                "birth_year_not_in_future",
                "plausibility.temporal",
                "error",
                "birth_year is not after the year of the run",
            ),
            vocab("primary_site", "primary_site", "error", ReasonCode.UNKNOWN_VOCABULARY),
            readable("ki67_pct", "number", ReasonCode.BAD_NUMBER),
            raw_range("ki67_pct", *PCT, "error", "ki67_pct is a percentage (0-100)"),
            vocab("who_grade", "who_grade", "error", ReasonCode.UNKNOWN_VOCABULARY),
            boolean("functional"),
            boolean("bilioenteric_anastomosis"),
            boolean("prior_whipple"),
            readable("death_date", "ISO date", ReasonCode.BAD_DATE),
            readable("last_contact_date", "ISO date", ReasonCode.BAD_DATE),
            not_in_future("death_date", reason_code=ReasonCode.DATE_AFTER_RUN),
            not_in_future("last_contact_date", reason_code=ReasonCode.DATE_AFTER_RUN),
            flag(
                "death_not_before_birth",
                "plausibility.temporal",
                "error",
                "death is not before the birth year",
                reason_code=ReasonCode.DATE_BEFORE_BIRTH,
            ),
            flag(
                "last_contact_not_after_death",
                "plausibility.temporal",
                "warning",
                "the last contact alive is not after the death date",
            ),
        ),
    ),
    Suite(
        "inputs",
        "sessions",
        (
            *required("patient_key", "session_date", "modality", "treated_territory"),
            duplicate_row(),
            duplicate_key("sessions"),
            readable("session_date", "ISO date", ReasonCode.BAD_DATE),
            Check(
                "modality_recognised",
                "modality",
                "in_set",
                "conformance.value",
                "error",
                "modality is TAE, cTACE, DEB-TACE, TARE or a known alias",
                values="modality_spelling",
                reason_code=ReasonCode.UNKNOWN_MODALITY,
            ),
            flag(
                "treated_territory_recognised",
                "conformance.value",
                "error",
                "treated_territory is a list of Couinaud segments 1-8 or a named lobe",
                reason_code=ReasonCode.UNKNOWN_TERRITORY,
            ),
            vocab("microsphere", "microsphere", "error", ReasonCode.UNKNOWN_VOCABULARY),
            readable("activity_gbq", "number", ReasonCode.BAD_NUMBER),
            raw_range(
                "activity_gbq",
                0.0,
                "max_activity_gbq",
                "error",
                "activity_gbq is 0..max_activity_gbq",
            ),
            readable("prior_systemic_lines", "number", ReasonCode.BAD_NUMBER),
            raw_range(
                "prior_systemic_lines",
                0.0,
                "max_prior_systemic_lines",
                "error",
                "prior_systemic_lines is 0..max_prior_systemic_lines",
            ),
            readable("lvef_pct", "number", ReasonCode.BAD_NUMBER),
            raw_range("lvef_pct", *PCT, "error", "lvef_pct is a percentage (0-100)"),
            known("patient_known", "patient", "patients", "error", ("patients",)),
            not_in_future("session_date", reason_code=ReasonCode.DATE_AFTER_RUN),
            flag(
                "session_not_before_birth",
                "plausibility.temporal",
                "error",
                "the session is not before the patient's birth year",
                requires=("patients",),
                reason_code=ReasonCode.DATE_BEFORE_BIRTH,
            ),
            flag(
                "session_not_after_death",
                "plausibility.temporal",
                "warning",
                "the session is not after the patient's death",
                requires=("patients",),
            ),
        ),
    ),
    Suite(
        "inputs",
        "imaging",
        (
            *required("patient_key", "study_date", "modality"),
            duplicate_row(),
            duplicate_key("imaging"),
            readable("study_date", "ISO date", ReasonCode.BAD_DATE),
            vocab("modality", "imaging_modality", "error", ReasonCode.UNKNOWN_VOCABULARY),
            boolean("extrahepatic_disease"),
            boolean("ascites"),
            boolean("portal_vein_occlusion"),
            readable("liver_tumor_burden_pct", "number", ReasonCode.BAD_NUMBER),
            raw_range(
                "liver_tumor_burden_pct",
                *PCT,
                "error",
                "liver_tumor_burden_pct is a percentage (0-100)",
            ),
            known("patient_known", "patient", "patients", "error", ("patients",)),
            not_in_future("study_date", reason_code=ReasonCode.DATE_AFTER_RUN),
            flag(
                "study_not_before_birth",
                "plausibility.temporal",
                "error",
                "the study is not before the patient's birth year",
                requires=("patients",),
                reason_code=ReasonCode.DATE_BEFORE_BIRTH,
            ),
            flag(
                "study_not_after_death",
                "plausibility.temporal",
                "warning",
                "the study is not after the patient's death",
                requires=("patients",),
            ),
        ),
    ),
    Suite(
        "inputs",
        "lesions",
        (
            *required("patient_key", "study_date", "lesion_id", "role", "organ", "status"),
            flag(
                "measured_target_has_diameter",
                "completeness",
                "error",
                "a measured target has its RECIST diameter (nodes: short axis; others: longest)",
                reason_code=ReasonCode.MISSING_REQUIRED,
            ),
            flag(
                "liver_lesion_has_segment",
                "completeness",
                "warning",
                "a liver lesion has its Couinaud segment (else it counts as out of field, F2)",
            ),
            duplicate_row(),
            readable("study_date", "ISO date", ReasonCode.BAD_DATE),
            vocab("role", "role", "error", ReasonCode.UNKNOWN_VOCABULARY),
            vocab("organ", "organ", "error", ReasonCode.UNKNOWN_VOCABULARY),
            flag(
                "status_fits_role",
                "conformance.value",
                "error",
                "status belongs to the status vocabulary of the lesion's role",
                reason_code=ReasonCode.UNKNOWN_VOCABULARY,
            ),
            readable("longest_diameter_mm", "number", ReasonCode.BAD_NUMBER),
            readable("short_axis_mm", "number", ReasonCode.BAD_NUMBER),
            readable("viable_diameter_mm", "number", ReasonCode.BAD_NUMBER),
            readable("viable_perpendicular_mm", "number", ReasonCode.BAD_NUMBER),
            readable("attenuation_hu", "number", ReasonCode.BAD_NUMBER),
            readable("liver_segment", "number", ReasonCode.BAD_NUMBER),
            raw_range(
                "longest_diameter_mm",
                0.0,
                "max_diameter_mm",
                "error",
                "longest_diameter_mm is 0..max_diameter_mm",
            ),
            raw_range(
                "short_axis_mm",
                0.0,
                "max_diameter_mm",
                "error",
                "short_axis_mm is 0..max_diameter_mm",
            ),
            raw_range(
                "viable_diameter_mm",
                0.0,
                "max_diameter_mm",
                "error",
                "viable_diameter_mm is 0..max_diameter_mm",
            ),
            raw_range(
                "viable_perpendicular_mm",
                0.0,
                "max_diameter_mm",
                "error",
                "viable_perpendicular_mm is 0..max_diameter_mm",
            ),
            raw_range(
                "attenuation_hu",
                "min_attenuation_hu",
                "max_attenuation_hu",
                "error",
                "attenuation_hu is min_attenuation_hu..max_attenuation_hu (C1)",
            ),
            flag(
                "liver_segment_is_couinaud",
                "plausibility.atemporal",
                "error",
                "liver_segment is a whole Couinaud segment 1-8",
                reason_code=ReasonCode.OUT_OF_RANGE,
            ),
            never(
                "is_orphan_study",
                "conformance.relational",
                "error",
                "the lesion row's (patient, study date) has an imaging study",
                reason_code=ReasonCode.ORPHAN_STUDY,
                requires=("imaging",),
            ),
            never(
                "is_target_after_baseline",
                "plausibility.temporal",
                "error",
                "a target after the course baseline was a target at the baseline study (R1)",
                reason_code=ReasonCode.TARGET_AFTER_BASELINE,
                requires=("imaging", "sessions"),
            ),
            never(
                "is_non_target_after_baseline",
                "plausibility.temporal",
                "warning",
                "a non-target after the course baseline was a non-target at the baseline study",
                requires=("imaging", "sessions"),
            ),
        ),
    ),
    Suite(
        "inputs",
        "labs",
        (
            *required("patient_key", "collected_at", "test", "value", "unit"),
            duplicate_row(),
            readable("collected_at", "ISO date or date-time", ReasonCode.BAD_DATE),
            flag(
                "test_recognised",
                "conformance.value",
                "warning",
                "test is a known LOINC code or name (others are kept but unused)",
            ),
            flag(
                "value_readable",
                "conformance.value",
                "error",
                "value of a recognised test is a number or a censored number such as <0.2 (L2)",
                reason_code=ReasonCode.BAD_NUMBER,
            ),
            flag(
                "unit_convertible",
                "conformance.value",
                "error",
                "unit of a recognised test converts to its canonical unit (L1)",
                reason_code=ReasonCode.UNKNOWN_UNIT,
            ),
            flag(
                "value_in_physiological_range",
                "plausibility.atemporal",
                "error",
                "the converted value lies in the physiological range of its analyte (L3)",
                reason_code=ReasonCode.OUT_OF_RANGE,
            ),
            not_in_future("collected_at", reason_code=ReasonCode.DATE_AFTER_RUN),
            known("patient_known", "patient", "patients", "error", ("patients",)),
        ),
    ),
)

# --- warehouse suites: the public tables a run is about to publish ----------------------

COLUMNS_MATCH_DDL = flag(
    "columns_match_ddl",
    "conformance.value",
    "fatal",
    "the table has the columns and types of warehouse/ddl (every row fails when it has not)",
)
_RESPONSE_VOCABS = (
    vocab("criteria", "criteria", "fatal"),
    vocab("target_response", "target_response", "fatal"),
    vocab("nontarget_response", "nontarget_response", "fatal"),
    vocab("overall_response", "overall_response", "fatal"),
)
_FOLLOWUP = (
    flag(
        "sum_unit_matches_criteria",
        "conformance.value",
        "error",
        "sum_unit is mm2 for EASL (A1) and mm for the other criteria",
    ),
    flag(
        "density_only_for_choi",
        "conformance.value",
        "error",
        "mean_hu, baseline_mean_hu and pct_change_hu_from_baseline are null except for Choi (C6)",
    ),
    flag(
        "followup_has_response",
        "completeness",
        "error",
        "every follow-up row has an overall response",
    ),
    flag("followup_has_reason", "completeness", "error", "every follow-up row has a reason (X1)"),
    flag(
        "baseline_row_has_no_response",
        "conformance.computational",
        "error",
        "the baseline row carries null responses (B5)",
    ),
)

WAREHOUSE_SUITES = (
    Suite(
        "warehouse",
        "patients",
        (
            COLUMNS_MATCH_DDL,
            unique_key("patient_key"),
            vocab("sex", "sex", "fatal"),
            vocab("primary_site", "primary_site", "fatal"),
            vocab("who_grade", "who_grade", "fatal"),
            in_range("ki67_pct", *PCT, "error", "ki67_pct is a percentage (0-100)"),
            in_range(
                "birth_year",
                "min_birth_year",
                None,
                "error",
                "birth_year is not before the plausibility limit",
            ),
            flag(
                "birth_year_not_in_future",
                "plausibility.temporal",
                "error",
                "birth_year is not after the year of the run",
            ),
            not_in_future("death_date"),
            not_in_future("last_contact_date"),
            flag(
                "death_not_before_birth",
                "plausibility.temporal",
                "error",
                "death is not before the birth year",
            ),
            flag(
                "last_contact_not_after_death",
                "plausibility.temporal",
                "warning",
                "the last contact alive is not after the death date",
            ),
            flag(
                "grade_agrees_with_ki67",
                "plausibility.atemporal",
                "warning",
                "a WHO grade G1-G3 agrees with Ki-67 (K1: G1 < {grade_g2_min_ki67_pct} %, "
                "G2 {grade_g2_min_ki67_pct}-{grade_g3_above_ki67_pct} %, "
                "G3 > {grade_g3_above_ki67_pct} %)",
            ),
            flag(
                "baseline_targets_within_total_limit",
                "conformance.value",
                "warning",
                "at most recist_max_targets_total targets at the course baseline (RECIST 1.1)",
                requires=("sessions", "imaging_studies", "lesion_measurements"),
            ),
            flag(
                "baseline_targets_within_organ_limit",
                "conformance.value",
                "warning",
                "at most recist_max_targets_per_organ targets per organ at baseline (RECIST 1.1)",
                requires=("sessions", "imaging_studies", "lesion_measurements"),
            ),
        ),
    ),
    Suite(
        "warehouse",
        "sessions",
        (
            COLUMNS_MATCH_DDL,
            unique_key("patient_key, session_id"),
            vocab("modality", "treatment_modality", "fatal"),
            flag(
                "treated_segments_are_couinaud",
                "conformance.value",
                "error",
                "treated_segments is a non-empty list of Couinaud segments 1-8",
            ),
            vocab("microsphere", "microsphere", "fatal"),
            flag(
                "microsphere_only_with_tare",
                "plausibility.atemporal",
                "warning",
                "a microsphere type is recorded only for TARE",
            ),
            in_range(
                "activity_gbq",
                0.0,
                "max_activity_gbq",
                "error",
                "activity_gbq is 0..max_activity_gbq",
            ),
            in_range(
                "prior_systemic_lines",
                0.0,
                "max_prior_systemic_lines",
                "error",
                "prior_systemic_lines is 0..max_prior_systemic_lines",
            ),
            in_range("lvef_pct", *PCT, "error", "lvef_pct is a percentage (0-100)"),
            known("patient_known", "patient", "patients", "error", ("patients",)),
            flag(
                "session_number_in_date_order",
                "conformance.computational",
                "error",
                "session_number counts the patient's sessions in date order",
            ),
            flag(
                "one_session_per_day",
                "plausibility.temporal",
                "warning",
                "a patient has one session per day",
            ),
            not_in_future("session_date"),
            flag(
                "session_not_before_birth",
                "plausibility.temporal",
                "error",
                "the session is not before the patient's birth year",
                requires=("patients",),
            ),
            flag(
                "session_not_after_death",
                "plausibility.temporal",
                "warning",
                "the session is not after the patient's death",
                requires=("patients",),
            ),
        ),
    ),
    Suite(
        "warehouse",
        "imaging_studies",
        (
            COLUMNS_MATCH_DDL,
            unique_key("patient_key, study_date"),
            vocab("modality", "imaging_modality", "fatal"),
            in_range(
                "liver_tumor_burden_pct",
                *PCT,
                "error",
                "liver_tumor_burden_pct is a percentage (0-100)",
            ),
            known("patient_known", "patient", "patients", "error", ("patients",)),
            not_in_future("study_date"),
            flag(
                "study_not_before_birth",
                "plausibility.temporal",
                "error",
                "the study is not before the patient's birth year",
                requires=("patients",),
            ),
            flag(
                "study_not_after_death",
                "plausibility.temporal",
                "warning",
                "the study is not after the patient's death",
                requires=("patients",),
            ),
            Check(
                "share_with_all_targets_measured",
                "all_targets_measured",
                "share",
                "completeness",
                "warning",
                "share of follow-up studies where every baseline target has a size (R2/R3)",
                threshold="min_studies_all_targets_measured_pct",
                requires=("sessions", "lesion_measurements"),
            ),
        ),
    ),
    Suite(
        "warehouse",
        "lesion_measurements",
        (
            COLUMNS_MATCH_DDL,
            never(
                "is_duplicate_lineage",
                "conformance.relational",
                "fatal",
                "no source file row is loaded twice",
            ),
            vocab("role", "role", "fatal"),
            vocab("organ", "organ", "fatal"),
            flag(
                "status_fits_role",
                "conformance.value",
                "fatal",
                "status belongs to the status vocabulary of the lesion's role",
            ),
            flag(
                "is_nodal_matches_organ",
                "conformance.computational",
                "error",
                "is_nodal is true exactly for organ lymph_node",
            ),
            flag(
                "measured_target_has_diameter",
                "completeness",
                "error",
                "a measured target has its RECIST diameter (nodes: short axis; others: longest)",
            ),
            in_range("liver_segment", 1.0, 8.0, "error", "liver_segment is a Couinaud segment 1-8"),
            in_range(
                "longest_diameter_mm",
                0.0,
                "max_diameter_mm",
                "error",
                "longest_diameter_mm is 0..max_diameter_mm",
            ),
            in_range(
                "short_axis_mm",
                0.0,
                "max_diameter_mm",
                "error",
                "short_axis_mm is 0..max_diameter_mm",
            ),
            in_range(
                "viable_diameter_mm",
                0.0,
                "max_diameter_mm",
                "error",
                "viable_diameter_mm is 0..max_diameter_mm",
            ),
            flag(
                "viable_not_above_longest",
                "plausibility.atemporal",
                "warning",
                "the viable (enhancing) diameter is not larger than the longest diameter (mRECIST)",
            ),
            known("patient_known", "patient", "patients", "error", ("patients",)),
            never(
                "is_orphan_study",
                "conformance.relational",
                "fatal",
                "the lesion row's (patient, study date) is in imaging_studies",
                requires=("imaging_studies",),
            ),
            flag(
                "organ_matches_first_study",
                "plausibility.atemporal",
                "warning",
                "a lesion keeps the organ it had at its first study",
            ),
            never(
                "is_target_after_baseline",
                "plausibility.temporal",
                "error",
                "a target after the course baseline was a target at the baseline study (R1)",
                requires=("sessions", "imaging_studies"),
            ),
            never(
                "is_non_target_after_baseline",
                "plausibility.temporal",
                "warning",
                "a non-target after the course baseline was a non-target at the baseline study",
                requires=("sessions", "imaging_studies"),
            ),
            flag(
                "baseline_nonnodal_target_measurable",
                "conformance.value",
                "warning",
                "a non-nodal baseline target measures >= recist_min_target_longest_mm",
                requires=("sessions", "imaging_studies"),
            ),
            flag(
                "baseline_nodal_target_measurable",
                "conformance.value",
                "warning",
                "a nodal baseline target has short axis >= recist_min_nodal_target_short_axis_mm",
                requires=("sessions", "imaging_studies"),
            ),
        ),
    ),
    Suite(
        "warehouse",
        "lab_results",
        (
            COLUMNS_MATCH_DDL,
            never(
                "is_repeated_source_row",
                "conformance.relational",
                "fatal",
                "no source row is loaded twice as the same result (same analyte and instant)",
            ),
            known("patient_known", "patient", "patients", "error", ("patients",)),
            flag(
                "unit_is_canonical",
                "conformance.value",
                "error",
                "a recognised analyte is stored in its canonical unit (L1)",
            ),
            flag(
                "value_in_physiological_range",
                "plausibility.atemporal",
                "error",
                "a recognised analyte's value lies in its physiological range (L3)",
            ),
            vocab("qualifier", "lab_qualifier", "fatal"),
            not_in_future("collected_at"),
            flag(
                "agrees_with_same_instant_results",
                "plausibility.atemporal",
                "warning",
                "results of one analyte at the same instant agree (L4: reported by data quality)",
            ),
        ),
    ),
    Suite(
        "warehouse",
        "timepoint_responses",
        (
            COLUMNS_MATCH_DDL,
            unique_key("patient_key, criteria, study_date"),
            *_RESPONSE_VOCABS,
            known("patient_known", "patient", "patients", "fatal", ("patients",)),
            known(
                "study_known",
                "(patient, study date)",
                "imaging_studies",
                "fatal",
                ("imaging_studies",),
            ),
            *_FOLLOWUP,
            flag(
                "study_not_before_baseline",
                "plausibility.temporal",
                "error",
                "no assessment is dated before its baseline (B4)",
            ),
            flag(
                "one_baseline_per_patient_and_criteria",
                "conformance.computational",
                "error",
                "all rows of a patient and criteria share one baseline date",
            ),
            flag(
                "days_from_baseline_consistent",
                "conformance.computational",
                "error",
                "days_from_baseline is study_date - baseline_date",
            ),
            days_not_negative(
                "days_from_baseline_not_negative", "days_from_baseline is not negative"
            ),
            flag(
                "pct_change_from_baseline_consistent",
                "conformance.computational",
                "error",
                "pct_change_from_baseline is 100 x (sum - baseline) / baseline, rounded to 0.1",
            ),
            flag(
                "nadir_not_above_baseline",
                "conformance.computational",
                "error",
                "the nadir sum is not above the baseline sum (R4 includes the baseline)",
            ),
        ),
    ),
    Suite(
        "warehouse",
        "session_responses",
        (
            COLUMNS_MATCH_DDL,
            unique_key("patient_key, criteria, session_id, scope, study_date"),
            *_RESPONSE_VOCABS,
            vocab("scope", "session_scope", "fatal"),
            vocab("modality", "treatment_modality", "fatal"),
            known("session_known", "(patient, session)", "sessions", "fatal", ("sessions",)),
            known(
                "study_known",
                "(patient, study date)",
                "imaging_studies",
                "fatal",
                ("imaging_studies",),
            ),
            flag(
                "session_number_and_modality_match_sessions",
                "conformance.computational",
                "error",
                "session_number and modality are those of the session in sessions",
                requires=("sessions",),
            ),
            *_FOLLOWUP,
            flag(
                "followup_after_session",
                "plausibility.temporal",
                "error",
                "a follow-up study is after its session (B3)",
                requires=("sessions",),
            ),
            flag(
                "followup_before_next_session",
                "plausibility.temporal",
                "error",
                "a follow-up study is before the next session (B3)",
                requires=("sessions",),
            ),
            flag(
                "days_after_session_consistent",
                "conformance.computational",
                "error",
                "days_after_session is study_date - session_date",
                requires=("sessions",),
            ),
            days_not_negative(
                "days_from_baseline_not_negative", "days_from_baseline is not negative"
            ),
            days_not_negative(
                "followup_days_after_session_not_negative",
                "days_after_session of a follow-up is not negative (the session baseline row, "
                "a study before the session, has a negative offset by definition)",
            ),
        ),
    ),
    Suite(
        "warehouse",
        "best_responses",
        (
            COLUMNS_MATCH_DDL,
            unique_key("patient_key, criteria, scope"),
            vocab("criteria", "criteria", "fatal"),
            vocab("bor", "overall_response", "fatal"),
            vocab("bor_confirmed", "overall_response", "fatal"),
            known("patient_known", "patient", "patients", "fatal", ("patients",)),
            flag(
                "scope_known",
                "conformance.relational",
                "fatal",
                "scope is `course` or one of the patient's session_ids",
                requires=("sessions",),
            ),
            flag(
                "bor_seen_in_assessments",
                "conformance.computational",
                "error",
                "bor is NE or an overall response seen at a follow-up of its scope (E1, E2)",
                requires=("timepoint_responses", "session_responses"),
            ),
            flag(
                "progression_date_is_an_assessment",
                "conformance.computational",
                "error",
                "progression_date is the date of an assessment of its scope (E4, R11)",
                requires=("timepoint_responses", "session_responses"),
            ),
            flag(
                "bor_confirmed_not_better_than_bor",
                "conformance.computational",
                "error",
                "the confirmed best response is not better than the unconfirmed one (E3)",
            ),
            flag(
                "pd_has_progression_date",
                "conformance.computational",
                "error",
                "a PD best response has a progression date",
            ),
            flag(
                "dor_only_after_response",
                "conformance.computational",
                "error",
                "dor_days is given only with a first response date (E4)",
            ),
            flag(
                "response_not_after_progression",
                "plausibility.temporal",
                "error",
                "the first response is not after the progression",
            ),
            days_not_negative("pfs_days_not_negative", "pfs_days is not negative"),
            days_not_negative("ttp_days_not_negative", "ttp_days is not negative"),
            days_not_negative("dor_days_not_negative", "dor_days is not negative"),
        ),
    ),
    Suite(
        "warehouse",
        "nlr",
        (
            COLUMNS_MATCH_DDL,
            unique_key("patient_key, collected_at"),
            known("patient_known", "patient", "patients", "fatal", ("patients",)),
            in_range(
                "neutrophils",
                "neutrophils_min",
                "neutrophils_max",
                "error",
                "neutrophils in the L3 range",
                None,
            ),
            in_range(
                "lymphocytes",
                "lymphocytes_min",
                "lymphocytes_max",
                "error",
                "lymphocytes in the L3 range",
                None,
            ),
            in_range("nlr", 0.0, None, "error", "nlr is not negative", None),
            flag(
                "nlr_is_neutrophils_over_lymphocytes",
                "conformance.computational",
                "error",
                "nlr is neutrophils / lymphocytes (N1)",
            ),
            not_in_future("collected_at"),
        ),
    ),
    Suite(
        "warehouse",
        "session_labs",
        (
            COLUMNS_MATCH_DDL,
            unique_key("patient_key, session_id"),
            known("session_known", "(patient, session)", "sessions", "fatal", ("sessions",)),
            flag(
                "session_number_and_date_match_sessions",
                "conformance.computational",
                "error",
                "session_number and session_date are those of the session in sessions",
                requires=("sessions",),
            ),
            in_range("nlr_pre", 0.0, None, "error", "nlr_pre is not negative", None),
            in_range("nlr_1m", 0.0, None, "error", "nlr_1m is not negative", None),
            in_range("nlr_3m", 0.0, None, "error", "nlr_3m is not negative", None),
            in_range("nlr_6m", 0.0, None, "error", "nlr_6m is not negative", None),
            flag(
                "nlr_6m_vs_pre_consistent",
                "conformance.computational",
                "error",
                "nlr_6m_vs_pre is nlr_6m / nlr_pre",
            ),
            flag(
                "nlr_elevated_pre_consistent",
                "conformance.computational",
                "error",
                "nlr_elevated_pre is nlr_pre > nlr_elevated_above (N4)",
            ),
            flag(
                "nlr_6m_above_pre_consistent",
                "conformance.computational",
                "error",
                "nlr_6m_above_pre is nlr_6m > nlr_pre (N5)",
            ),
        ),
    ),
    Suite(
        "warehouse",
        "session_flags",
        (
            COLUMNS_MATCH_DDL,
            unique_key("patient_key, session_id"),
            known("session_known", "(patient, session)", "sessions", "fatal", ("sessions",)),
            flag(
                "session_columns_match_sessions",
                "conformance.computational",
                "error",
                "session_number, session_date and modality are those of the session in sessions",
                requires=("sessions",),
            ),
            vocab("modality", "treatment_modality", "fatal"),
            *(
                vocab(f"elig_{c}", "eligibility_state", "fatal")
                for c in (
                    "creatinine",
                    "ldh",
                    "ast",
                    "platelets",
                    "bilirubin",
                    "burden",
                    "portal_vein",
                    "biliary",
                    "lvef",
                )
            ),
            vocab("modality_hint", "modality_hint", "fatal"),
            in_range(
                "bilirubin_mg_dl",
                "bilirubin_min",
                "bilirubin_max",
                "error",
                "bilirubin in the L3 range",
                None,
            ),
            in_range(
                "albumin_g_dl",
                "albumin_min",
                "albumin_max",
                "error",
                "albumin in the L3 range",
                None,
            ),
            in_range(
                "liver_tumor_burden_pct",
                *PCT,
                "error",
                "liver_tumor_burden_pct is a percentage (0-100)",
                None,
            ),
            flag(
                "eligible_consistent_with_criteria",
                "conformance.computational",
                "error",
                "eligible: false if a criterion fails, null if one is missing, else true (G)",
            ),
            flag(
                "n_negative_flags_counts_true_flags",
                "conformance.computational",
                "error",
                "n_negative_flags is the number of true flags P1-P7 (P8)",
            ),
            flag(
                "modality_hint_has_reason",
                "completeness",
                "error",
                "a modality hint comes with its reason (H1-H3)",
            ),
            Check(
                "share_with_pre_session_labs",
                "has_pre_session_labs",
                "share",
                "completeness",
                "warning",
                "sessions with a lab value in the look-back before them (N2, P1-P9, G1-G5)",
                threshold="min_sessions_with_pre_labs_pct",
            ),
        ),
    ),
)

SURVIVAL_SUITE = Suite(
    "warehouse",
    "survival",
    (
        COLUMNS_MATCH_DDL,
        unique_key("patient_key"),
        known("patient_known", "patient", "patients", "fatal", ("patients",)),
        flag(
            "patient_has_session",
            "conformance.relational",
            "fatal",
            "the row's patient has a session (one row per patient with a session)",
            requires=("sessions",),
        ),
        flag(
            "session_patient_has_row",
            "completeness",
            "fatal",
            "every patient with a session has a survival row",
            requires=("sessions",),
        ),
        flag(
            "first_session_is_earliest",
            "conformance.computational",
            "error",
            "first_session_date and first_modality are those of the patient's earliest session",
            requires=("sessions",),
        ),
        vocab("first_modality", "treatment_modality", "fatal"),
        vocab("primary_site", "primary_site", "fatal"),
        days_not_negative("os_days_not_negative", "os_days is not negative"),
        flag("os_event_given", "completeness", "fatal", "os_event is true or false"),
        flag(
            "os_event_is_death",
            "conformance.computational",
            "error",
            "os_event is true exactly when the patient has a death date",
            requires=("patients",),
        ),
        flag(
            "landmark_excludes_early_exits",
            "conformance.computational",
            "error",
            "a patient dead or censored before report.landmark_days has no landmark responder "
            "status",
        ),
    ),
)
SUITES = INPUT_SUITES + WAREHOUSE_SUITES + (SURVIVAL_SUITE,)
