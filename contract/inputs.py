"""The input contract as data (../shared/contract/inputs.md): datasets and their columns.

``sources`` checks a file against it (required columns present, decimal
commas in numeric columns), staging judges each value by it (a bad value in a
column required for the row rejects the row, any other is nulled), and the
data-quality suites and the demo cohort read the same lists.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The input datasets, in the order a run stages them (later ones are checked
#: against the earlier: birth years, studies, sessions).
DATASETS: tuple[str, ...] = ("patients", "sessions", "imaging", "lesions", "labs")

#: The identifier column of every file; ``sources`` replaces it by ``patient_key``.
PATIENT_ID = "patient_id"
PATIENT_KEY = "patient_key"


@dataclass(frozen=True)
class Requirement:
    """When a value is required in a row: ``when`` is a SQL condition over staging's parsed row.

    ``what`` is how a reason says it, e.g. " for a liver lesion". A condition
    reads only columns that are themselves always required, so it is known
    whenever the row is kept.
    """

    when: str = "TRUE"
    what: str = ""


#: A value required in every row (the contract says "yes").
ALWAYS = Requirement()


#: The kinds of value of an input column, as inputs.md's "type" says: how its text
#: is read (a number, a boolean spelling of ``ingest.booleans``, an ISO date or
#: date-time); any other is text, vocabularies included.
TEXT, NUMBER, BOOLEAN, DATE = "text", "number", "boolean", "date"


@dataclass(frozen=True)
class Column:
    """One column of the input contract.

    ``type``: TEXT, NUMBER, BOOLEAN or DATE (inputs.md: ``int``, ``0–100``,
    ``number ≥ 0`` are numbers; ``date or datetime`` is a date). ``required``:
    the contract says "yes", so a file without the column is refused whole and
    a row without a value is rejected. ``required_when``: the contract makes the
    value required in some rows only (a liver lesion's segment): the column may
    be absent from a file, but a row that needs the value and lacks it is
    rejected. ``number_in_text``: a text value that holds a number (a censored
    lab value such as ``<0,2``).
    """

    name: str
    type: str = TEXT
    required: bool = False
    required_when: Requirement | None = None
    number_in_text: bool = False

    @property
    def numeric(self) -> bool:
        """Its values are numbers, so a semicolon file may write them with a decimal comma."""
        return self.type == NUMBER or self.number_in_text


_ID = Column(PATIENT_ID, required=True)
CONTRACT: dict[str, tuple[Column, ...]] = {
    "patients": (
        _ID,
        Column("sex"),
        Column("birth_year", NUMBER),
        Column("primary_site"),
        Column("ki67_pct", NUMBER),
        Column("who_grade"),
        Column("functional", BOOLEAN),
        Column("bilioenteric_anastomosis", BOOLEAN),
        Column("prior_whipple", BOOLEAN),
        Column("death_date", DATE),
        Column("last_contact_date", DATE),
    ),
    "sessions": (
        _ID,
        Column("session_date", DATE, required=True),
        Column("modality", required=True),
        Column("treated_territory", required=True),
        Column("session_id"),
        Column("agent"),
        Column("microsphere"),
        Column("activity_gbq", NUMBER),
        Column("prior_systemic_lines", NUMBER),
        Column("lvef_pct", NUMBER),
    ),
    "imaging": (
        _ID,
        Column("study_date", DATE, required=True),
        Column("modality", required=True),
        Column("extrahepatic_disease", BOOLEAN),
        Column("ascites", BOOLEAN),
        Column("liver_tumor_burden_pct", NUMBER),
        Column("portal_vein_occlusion", BOOLEAN),
    ),
    "lesions": (
        _ID,
        Column("study_date", DATE, required=True),
        Column("lesion_id", required=True),
        Column("role", required=True),
        Column("organ", required=True),
        Column(
            "liver_segment",
            NUMBER,
            required_when=Requirement("organ = 'liver'", " for a liver lesion"),
        ),
        Column("status", required=True),
        Column(
            "longest_diameter_mm",
            NUMBER,
            required_when=Requirement(
                "role = 'target' AND status = 'measured' AND NOT is_nodal",
                " for a measured non-nodal target",
            ),
        ),
        Column(
            "short_axis_mm",
            NUMBER,
            required_when=Requirement(
                "role = 'target' AND status = 'measured' AND is_nodal",
                " for a measured nodal target",
            ),
        ),
        Column("viable_diameter_mm", NUMBER),
        Column("viable_perpendicular_mm", NUMBER),
        Column("attenuation_hu", NUMBER),
    ),
    "labs": (
        _ID,
        Column("collected_at", DATE, required=True),
        Column("test", required=True),
        Column("value", required=True, number_in_text=True),
        Column("unit", required=True),
    ),
}

#: Columns of every input dataset besides patient_id, in contract order.
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    d: tuple(c.name for c in cols if c is not _ID) for d, cols in CONTRACT.items()
}
#: Columns a file must have (else it is refused whole).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    d: tuple(c.name for c in cols if c.required) for d, cols in CONTRACT.items()
}
#: Columns whose values are numbers (decimal commas), booleans, dates: the one list of each.
NUMERIC_COLUMNS: dict[str, tuple[str, ...]] = {
    d: tuple(c.name for c in cols if c.numeric) for d, cols in CONTRACT.items()
}
BOOLEAN_COLUMNS: dict[str, tuple[str, ...]] = {
    d: tuple(c.name for c in cols if c.type == BOOLEAN) for d, cols in CONTRACT.items()
}
DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    d: tuple(c.name for c in cols if c.type == DATE) for d, cols in CONTRACT.items()
}
#: Per dataset, the columns (as staging names them: ``patient_key`` for the
#: identifier) whose value a row needs, and when. A bad value in one of them
#: rejects the row; a bad value in any other column is nulled and the row loads.
REQUIRED_VALUES: dict[str, dict[str, Requirement]] = {
    d: {
        (PATIENT_KEY if c is _ID else c.name): ALWAYS if c.required else c.required_when
        for c in cols
        if c.required or c.required_when is not None
    }
    for d, cols in CONTRACT.items()
}
#: The keys of the one-row-per-key datasets (columns as staging names them:
#: ``patient_key`` for the identifier). Each key holds one row, and the keys of a
#: dataset are judged one after the other, in this order (not as one combined
#: key): a row whose key comes again in a later file (file-name order) is
#: superseded by it (a correction); then, among the rows left, a second row with
#: the key in the same file is a ``duplicate_key`` (the first is kept). A session
#: is one row per patient and date *and* one per patient and ``session_id``
#: (derived from the date when absent), so two sessions of a patient on one date
#: are one too many. Staging applies these keys; the data-quality suites count a
#: repeated key the same way (tests check each key, and crossing keys, on both).
ROW_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "patients": ((PATIENT_KEY,),),
    "sessions": ((PATIENT_KEY, "session_date"), (PATIENT_KEY, "session_id")),
    "imaging": ((PATIENT_KEY, "study_date"),),
    "lesions": (),
    "labs": (),
}
