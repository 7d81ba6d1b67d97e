"""Deliberately bad rows, each breaking exactly one thing, so ingestion can be tested exactly.

About 1 % of each dataset's rows are spoiled (at least one of every kind per
chunk, so even a 20-patient cohort shows every kind). Every spoiled row must be
the *only* row its defect affects ("no cascades"):

- only follow-up rows of baseline target/non-target lesions are changed or
  copied, never a baseline row (a lost baseline target row would make the
  later rows of that lesion look like ``target_after_baseline``), never a
  fragment of a split lesion, never a coalesced row;
- only sessions after the first are changed (the first fixes the course
  baseline);
- an imaging row that has lesions is never changed: bad imaging rows are
  extra studies on dates without lesions;
- the same-instant lab pairs the model adds on purpose are left alone.

Changed rows keep their place in the file; added rows (copies, shifted dates,
late targets) are sorted in where a real export would put them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.inputs import BOOLEAN_COLUMNS
from contract.reasons import ReasonCode
from demo_cohort import model, text
from demo_cohort.frame import Frame

SPOIL_SHARE = 0.01

# Reason codes (contract.reasons) that the generator produces.
REASONS: tuple[ReasonCode, ...] = (
    ReasonCode.MISSING_REQUIRED,
    ReasonCode.BAD_DATE,
    ReasonCode.BAD_NUMBER,
    ReasonCode.BAD_BOOLEAN,
    ReasonCode.OUT_OF_RANGE,
    ReasonCode.UNKNOWN_VOCABULARY,
    ReasonCode.UNKNOWN_MODALITY,
    ReasonCode.UNKNOWN_TERRITORY,
    ReasonCode.UNKNOWN_UNIT,
    ReasonCode.DUPLICATE_ROW,
    ReasonCode.ORPHAN_STUDY,
    ReasonCode.TARGET_AFTER_BASELINE,
)

BAD_DATES = ("2026-13-45", "yesterday", "2025-02-30", "31.04.2024")
BAD_BOOLEANS = ("maybe", "perhaps", "2")
BAD_MODALITIES = ("laser ablation", "microwave ablation", "HIFU")
BAD_TERRITORIES = ("left half", "most of the liver", "segment IX")
BAD_UNITS = ("furlongs", "mg/furlong", "bananas/L")
BAD_NUMBERS = ("abc", "see comment", "++")
LATE_TARGET_ORDER = 1 << 40  # after every lesion of the study


@dataclass
class SpoiledFrame:
    """A dataset of one chunk and the reason code of each spoiled row.

    ``table.take(file_order)`` is the file; the writer takes it in slices so that
    the largest dataset is never held twice in memory.
    """

    table: pa.Table
    file_order: np.ndarray
    spoiled_rows: np.ndarray  # 0-based positions in the file
    spoiled_reasons: np.ndarray  # reason code per spoiled row
    spoiled_columns: np.ndarray  # the column spoiled per spoiled row; None: the row as a whole


class _Spoiler:
    """Collects one-thing changes and added rows for a frame, then applies them all at once."""

    def __init__(self, frame: Frame, rng: np.random.Generator, n_kinds: int) -> None:
        self.frame = frame
        self.rng = rng
        self.per_kind = max(1, round(SPOIL_SHARE * frame.n_rows) // n_kinds)
        self.taken = np.zeros(frame.n_rows, bool)
        self.reason = np.full(frame.n_rows, -1, np.int8)
        self.at_fault = np.full(frame.n_rows, None, object)
        self.edits: dict[str, list[tuple[np.ndarray, pa.Array]]] = {}
        self.additions: list[
            tuple[np.ndarray, dict[str, pa.Array], np.ndarray, np.ndarray, int, str | None]
        ] = []

    def choose(self, candidates: np.ndarray | None = None) -> np.ndarray:
        """Up to ``per_kind`` untouched rows among ``candidates``, in file order."""
        pool = np.flatnonzero(~self.taken if candidates is None else candidates & ~self.taken)
        picked = np.sort(self.rng.choice(pool, min(len(pool), self.per_kind), replace=False))
        self.taken[picked] = True
        return picked

    def words(self, choices: Sequence[str], rows: np.ndarray) -> pa.Array:
        return text.pick(choices, self.rng.integers(0, len(choices), len(rows)))

    def column(self, name: str, rows: np.ndarray) -> pa.Array:
        values = pc.take(self.frame.columns[name], pa.array(rows))
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

    def change(self, reason: ReasonCode, column: str, rows: np.ndarray, values: pa.Array) -> None:
        self.edits.setdefault(column, []).append((rows, values))
        self.reason[rows] = REASONS.index(reason)
        self.at_fault[rows] = column

    def add(
        self,
        reason: ReasonCode,
        rows: np.ndarray,
        overrides: dict[str, pa.Array] | None = None,
        day_shift: int = 0,
        order: np.ndarray | None = None,
        column: str | None = None,
    ) -> None:
        """Add copies of ``rows`` with some columns replaced (a plain copy is a duplicate).

        ``column`` is the one at fault (None: the row as a whole, e.g. a copy).
        """
        f = self.frame
        self.additions.append(
            (
                rows,
                overrides or {},
                f.day[rows] + day_shift,
                f.order[rows] if order is None else order,
                REASONS.index(reason),
                column,
            )
        )

    def finish(self) -> SpoiledFrame:
        f = self.frame
        columns = dict(f.columns)
        for name, edits in self.edits.items():
            rows = np.concatenate([r for r, _ in edits])
            values = pa.concat_arrays([v.cast(pa.string()) for _, v in edits])
            by_row = np.argsort(rows, kind="stable")
            mask = np.zeros(f.n_rows, bool)
            mask[rows] = True
            columns[name] = pc.replace_with_mask(columns[name], pa.array(mask), values.take(by_row))
        parts = [pa.table(columns)]
        patient, day, order, reason = [f.patient], [f.day], [f.order], [self.reason]
        spoiled_column = [self.at_fault]
        for rows, overrides, new_day, new_order, code, column in self.additions:
            added = {c: overrides.get(c, pc.take(columns[c], pa.array(rows))) for c in columns}
            parts.append(pa.table({c: v.cast(pa.string()) for c, v in added.items()}))
            patient.append(f.patient[rows])
            day.append(new_day)
            order.append(new_order)
            reason.append(np.full(len(rows), code, np.int8))
            spoiled_column.append(np.full(len(rows), column, object))
        table = pa.concat_tables(parts)
        all_reasons = np.concatenate(reason)
        file_order = np.lexsort(
            (
                np.arange(len(all_reasons)),
                np.concatenate(order),
                np.concatenate(day),
                np.concatenate(patient),
            )
        )
        all_reasons = all_reasons[file_order]
        positions = np.flatnonzero(all_reasons >= 0)
        columns_at = np.concatenate(spoiled_column)[file_order][positions]
        return SpoiledFrame(
            table,
            file_order,
            positions,
            np.array([r.value for r in REASONS])[all_reasons[positions]],
            columns_at,
        )


def _patients(s: _Spoiler) -> None:
    rows = s.choose()
    booleans = BOOLEAN_COLUMNS["patients"]
    which = s.rng.integers(0, len(booleans), len(rows))
    for i, column in enumerate(booleans):
        part = rows[which == i]
        s.change(ReasonCode.BAD_BOOLEAN, column, part, s.words(BAD_BOOLEANS, part))
    s.add(ReasonCode.DUPLICATE_ROW, s.choose())


def _sessions(s: _Spoiler) -> None:
    later = s.frame.traits["session_number"] >= 2
    rows = s.choose(later)
    s.change(ReasonCode.UNKNOWN_MODALITY, "modality", rows, s.words(BAD_MODALITIES, rows))
    rows = s.choose(later)
    s.change(
        ReasonCode.UNKNOWN_TERRITORY, "treated_territory", rows, s.words(BAD_TERRITORIES, rows)
    )
    rows = s.choose(later)
    s.change(ReasonCode.BAD_DATE, "session_date", rows, s.words(BAD_DATES, rows))
    s.add(ReasonCode.DUPLICATE_ROW, s.choose())


def _imaging(s: _Spoiler) -> None:
    f = s.frame
    # Extra studies a few days after a follow-up study (the next one is >= 60 days later),
    # so they share no date with a real study and no lesion refers to them.
    before_another = f.traits["followup"] & f.traits["has_next"]
    rows = s.choose(before_another)
    s.add(
        ReasonCode.OUT_OF_RANGE,
        rows,
        {
            "study_date": text.iso_date(f.day[rows] + 5),
            "liver_tumor_burden_pct": pa.array(["150"] * len(rows)),
        },
        day_shift=5,
        column="liver_tumor_burden_pct",
    )
    rows = s.choose(before_another)
    s.add(
        ReasonCode.BAD_BOOLEAN,
        rows,
        {"study_date": text.iso_date(f.day[rows] + 9), "ascites": s.words(BAD_BOOLEANS, rows)},
        day_shift=9,
        column="ascites",
    )
    rows = s.choose()
    s.add(ReasonCode.BAD_DATE, rows, {"study_date": s.words(BAD_DATES, rows)}, column="study_date")
    s.add(ReasonCode.DUPLICATE_ROW, s.choose())


def _lesions(s: _Spoiler) -> None:
    f, t = s.frame, s.frame.traits
    followup = (
        t["followup"] & (t["role"] != model.NEW) & ~t["split"] & (t["status"] != model.COALESCED)
    )
    solid = followup & t["measured_solid_target"]
    rows = s.choose(solid)
    longest = s.column("longest_diameter_mm", rows)
    s.change(
        ReasonCode.OUT_OF_RANGE,
        "longest_diameter_mm",
        rows,
        pc.binary_join_element_wise("-", longest, ""),
    )
    rows = s.choose(solid)
    s.change(
        ReasonCode.OUT_OF_RANGE,
        "longest_diameter_mm",
        rows,
        text.fixed(s.rng.uniform(401, 990, len(rows)), 1),
    )
    rows = s.choose(solid)
    s.change(
        ReasonCode.MISSING_REQUIRED, "longest_diameter_mm", rows, pa.nulls(len(rows), pa.string())
    )
    rows = s.choose(followup)
    s.change(ReasonCode.MISSING_REQUIRED, "status", rows, pa.nulls(len(rows), pa.string()))
    rows = s.choose(followup)
    s.change(ReasonCode.BAD_DATE, "study_date", rows, s.words(BAD_DATES, rows))
    rows = s.choose(followup & (t["role"] == model.TARGET))
    s.change(ReasonCode.UNKNOWN_VOCABULARY, "role", rows, pa.array(["targt"] * len(rows)))
    rows = s.choose(followup & (t["organ"] != model.LIVER) & (t["organ"] != model.NODE))
    s.change(ReasonCode.UNKNOWN_VOCABULARY, "organ", rows, pa.array(["spleen"] * len(rows)))
    s.add(ReasonCode.DUPLICATE_ROW, s.choose(followup))
    # The same lesion three days before a follow-up study: a date with no study.
    rows = s.choose(followup)
    s.add(
        ReasonCode.ORPHAN_STUDY, rows, {"study_date": text.iso_date(f.day[rows] - 3)}, day_shift=-3
    )
    # A lesion id never seen before, reported as a target at a follow-up study.
    rows = s.choose(followup)
    rows = rows[np.unique(f.patient[rows], return_index=True)[1]]
    m = len(rows)
    longest = s.rng.uniform(12, 45, m)
    s.add(
        ReasonCode.TARGET_AFTER_BASELINE,
        rows,
        {
            "lesion_id": text.prefixed("L", t["lesions_of_patient"][rows] + 1),
            "role": pa.array(["target"] * m),
            "organ": pa.array(["liver"] * m),
            "liver_segment": text.fixed(s.rng.integers(1, 9, m), 0),
            "status": pa.array(["measured"] * m),
            "longest_diameter_mm": text.fixed(longest, 1),
            "short_axis_mm": pa.nulls(m, pa.string()),
            "viable_diameter_mm": text.fixed(longest * s.rng.uniform(0.5, 1, m), 1),
            "viable_perpendicular_mm": pa.nulls(m, pa.string()),
            "attenuation_hu": pa.nulls(m, pa.string()),
        },
        order=np.full(m, LATE_TARGET_ORDER),
        column="role",
    )


def _labs(s: _Spoiler) -> None:
    t = s.frame.traits
    usable = ~t["paired"]
    rows = s.choose(usable)
    s.change(ReasonCode.UNKNOWN_UNIT, "unit", rows, s.words(BAD_UNITS, rows))
    rows = s.choose(usable)
    s.change(ReasonCode.BAD_NUMBER, "value", rows, s.words(BAD_NUMBERS, rows))
    # Albumin 70 g/dL: outside the physiological range of labs-and-flags L3.
    rows = s.choose(usable & t["albumin_g_dl"])
    s.change(ReasonCode.OUT_OF_RANGE, "value", rows, pa.array(["70"] * len(rows)))
    rows = s.choose(usable)
    s.change(ReasonCode.BAD_DATE, "collected_at", rows, s.words(BAD_DATES, rows))
    s.add(ReasonCode.DUPLICATE_ROW, s.choose(usable))


# Dataset -> (spoiling function, number of kinds it injects).
SPOILERS = {
    "patients": (_patients, 2),
    "sessions": (_sessions, 4),
    "imaging": (_imaging, 4),
    "lesions": (_lesions, 10),
    "labs": (_labs, 5),
}


def spoil(dataset: str, frame: Frame, rng: np.random.Generator) -> SpoiledFrame:
    """The dataset's rows in file order with about 1 % of them spoiled, one defect each."""
    inject, n_kinds = SPOILERS[dataset]
    spoiler = _Spoiler(frame, rng, n_kinds)
    inject(spoiler)
    return spoiler.finish()
