"""The clinical model behind the demo cohort: one chunk of patients, built as whole arrays.

A patient's course is drawn in this order, each step vectorised over the chunk
(loops only run over a handful of session or lesion *slots*):

1. patient traits (primary, Ki-67, response type, liver tumour burden);
2. the timeline: a baseline CT/MR study 1–30 days before the first session,
   studies every 60–120 days, sessions 1–4 placed a few days after a study
   (so consecutive sessions are 31–175 days apart), death or censoring, and the
   end of data capture (never after death or last contact);
3. baseline lesions (1–5 targets, at most 2 per organ; 0–3 non-targets), then
   the treated territory of each session, chosen from the lesions' segments;
4. lesion sizes at every study: natural growth, shrinkage once an embolisation
   reaches the lesion's segment, loss of enhancement (viable diameter and its
   perpendicular, often 0) after TAE/TACE and a fall in density (attenuation)
   after TARE, and, for some patients, regrowth; plus splits, coalescence and
   new lesions;
5. imaging findings (burden follows the liver lesions), and
6. lab draws every 2–6 weeks plus one before and one after every session.

Everything a reader of the contract would call required is filled on every row
the model makes; the spoiler (``demo_cohort.spoil``) breaks rows afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from demo_cohort import text
from demo_cohort.frame import Frame, concat_frames

FIRST_BASELINE_DAY = text.day_number("2012-01-01")
DATA_CUTOFF_DAY = text.day_number("2026-10-31")
MAX_SESSIONS = 4
MAX_STUDIES = 28  # enough slots for 4 sessions and 900 days of follow-up at 60-day spacing

# --- vocabularies (indices are the codes used below) ---------------------------------
PRIMARY_SITES = (
    "small_intestine",
    "pancreas",
    "unknown",
    "rectum",
    "stomach",
    "colon",
    "lung",
    "appendix",
    "other",
)
PRIMARY_SHARE = (0.38, 0.30, 0.09, 0.05, 0.04, 0.04, 0.05, 0.02, 0.03)
PANCREAS = 1
GRADES = ("G1", "G2", "G3")
ORGANS = ("liver", "lymph_node", "lung", "bone", "peritoneum", "pancreas", "other")
LIVER, NODE, LUNG, BONE, PERITONEUM, PANCREAS_ORGAN, OTHER_ORGAN = range(7)
ROLES = ("target", "non_target", "new")
TARGET, NON_TARGET, NEW = range(3)
STATUSES = (
    "measured",
    "too_small",
    "absent",
    "coalesced",
    "not_evaluated",
    "present",
    "non_enhancing",
    "progression",
    "equivocal",
)
MEASURED, TOO_SMALL, ABSENT, COALESCED, NOT_EVALUATED = range(5)
PRESENT, NON_ENHANCING, PROGRESSION, EQUIVOCAL = range(5, 9)

SEGMENT_SHARE = (0.05, 0.10, 0.10, 0.15, 0.12, 0.15, 0.15, 0.18)  # segments 1..8
RIGHT_LOBE = 0b11110000  # segments 5-8 (bit s-1 = segment s)
LEFT_LOBE = 0b00001110  # segments 2-4
WHOLE_LIVER = 0b11111111
TERRITORY_LIST, TERRITORY_RIGHT, TERRITORY_LEFT, TERRITORY_WHOLE = range(4)

MODALITIES = ("TAE", "cTACE", "DEB-TACE", "TARE")
TAE, CTACE, DEB_TACE, TARE = range(4)
MODALITY_SHARE = (0.25, 0.30, 0.15, 0.30)
MODALITY_SPELLINGS = (
    ("TAE", "bland embolization", "Bland embolization", "tae"),
    ("cTACE", "conventional TACE", "cTACE"),
    ("DEB-TACE", "DEB TACE", "deb-tace"),
    ("TARE", "Y90", "SIRT", "radioembolization"),
)
AGENTS = ("doxorubicin", "cisplatin", "mitomycin", "streptozocin")
CTACE_AGENT_SHARE = (0.65, 0.08, 0.12, 0.15)

# Response types: shrinkage once embolised, growth per year, chance of full necrosis.
RESPONSE_TYPE_SHARE = (0.30, 0.35, 0.25, 0.10)  # responder, moderate, stable, progressor
SHRINK = np.array([0.60, 0.35, 0.10, 0.00])
GROWTH_PER_YEAR = np.array([0.0, 0.08, 0.15, 0.70])
NECROSIS_SHARE = np.array([0.55, 0.35, 0.12, 0.05])
PROGRESSOR = 3

# --- labs: analytes in canonical units, how they are written --------------------------
ANALYTES = (
    "bilirubin",
    "albumin",
    "creatinine",
    "ldh",
    "ast",
    "platelets",
    "neutrophils",
    "lymphocytes",
)
BILI, ALB, CREA, LDH, AST, PLT, NEUT, LYMPH = range(8)
TEST_SPELLINGS = (
    ("1975-2", "bilirubin", "Total bilirubin", "Bilirubin"),
    ("1751-7", "albumin", "ALB", "Albumin"),
    ("2160-0", "creatinine", "Creatinine"),
    ("14804-9", "2532-0", "ldh", "LDH"),
    ("1920-8", "ast", "AST"),
    ("777-3", "platelets", "Platelets"),
    ("751-8", "neutrophils", "Neutrophils"),
    ("731-0", "lymphocytes", "Lymphocytes"),
)
_COUNT_UNITS = ("10^9/L", "10*9/L", "x10^9/L", "10^3/µL", "K/uL", "10^3/uL")
# Per analyte: (canonical spellings, alternative spellings); labs-and-flags L1.
UNIT_SPELLINGS = (
    (("mg/dL", "mg/dl"), ("µmol/L", "umol/L", "µmol/l", "mcmol/L")),
    (("g/dL", "g/dl"), ("g/L",)),
    (("mg/dL",), ("µmol/L", "umol/L")),
    (("U/L", "IU/L", "mU/mL"), ("µkat/L",)),
    (("U/L", "IU/L"), ("µkat/L",)),
    (_COUNT_UNITS, ("/µL", "cells/uL")),
    (_COUNT_UNITS, ("/µL", "cells/uL")),
    (_COUNT_UNITS, ("/µL", "cells/uL")),
)
# Per analyte and unit system: factor from canonical, rounding step, decimals written.
UNIT_FACTOR = np.array(
    [[1, 17.1], [1, 10], [1, 88.4], [1, 1 / 60], [1, 1 / 60], [1, 1000], [1, 1000], [1, 1000]]
)
UNIT_STEP = np.array(
    [[0.1, 1], [0.1, 1], [0.01, 1], [1, 0.01], [1, 0.01], [1, 1000], [0.01, 10], [0.01, 10]]
)
UNIT_DECIMALS = np.array([[1, 0], [1, 0], [2, 0], [0, 2], [0, 2], [0, 0], [2, 0], [2, 0]])
# Good values stay well inside the physiological ranges of labs-and-flags L3.
VALUE_LIMITS = np.array(
    [[0.1, 30], [1.5, 5.8], [0.3, 12], [60, 5000], [8, 3000], [10, 900], [0.3, 40], [0.1, 10]]
)
ALTERNATIVE_UNIT_SHARE = 1 / 3
LAB_BATCH_PATIENTS = 2_500


@dataclass
class Patients:
    """Per-patient facts of a chunk (arrays of length n)."""

    ids: pa.Array
    primary: np.ndarray
    ki67: np.ndarray
    ki67_missing: np.ndarray
    true_grade: np.ndarray
    response_type: np.ndarray
    burden0: np.ndarray


@dataclass
class Timeline:
    """Per-patient dates as day numbers; (n, slots) matrices for studies and sessions."""

    t0: np.ndarray
    end: np.ndarray
    dead: np.ndarray
    obs_end: np.ndarray
    study_day: np.ndarray
    study_ok: np.ndarray
    session_day: np.ndarray
    session_ok: np.ndarray

    @property
    def n_studies(self) -> np.ndarray:
        return self.study_ok.sum(axis=1)


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner and position of every element of groups of the given sizes."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - starts[owner]


def _category(rng: np.random.Generator, shares: tuple[float, ...], size) -> np.ndarray:
    return rng.choice(len(shares), size=size, p=np.asarray(shares) / np.sum(shares))


def _random_set_bit(rng: np.random.Generator, masks: np.ndarray) -> np.ndarray:
    """A uniformly chosen set bit (as segment 1..8) of each non-zero 8-bit mask."""
    bits = (masks[:, None] >> np.arange(8)) & 1
    return np.argmax(rng.random((len(masks), 8)) * bits, axis=1) + 1


def patient_ids(first_index: int, n: int, seed: int, id_style: str) -> pa.Array:
    """Study ids ('NELM-000123') or 8-digit MRN-like numbers, unique within a cohort."""
    index = np.arange(first_index, first_index + n, dtype=np.int64)
    if id_style == "study":
        return text.prefixed("NELM-", index + 1, 6)
    # An odd multiplier not divisible by 5 permutes 0..10^7-1, so MRNs never collide.
    offset = (seed * 104_729) % 10_000_000
    mrn = 40_000_000 + (index * 7_919_333 + offset) % 10_000_000
    return pc.cast(pa.array(mrn), pa.string())


def _patient_facts(rng: np.random.Generator, ids: pa.Array) -> Patients:
    n = len(ids)
    primary = _category(rng, PRIMARY_SHARE, n)
    ki67 = np.exp(rng.normal(np.log(4.0), 1.0, n)) * np.where(primary == PANCREAS, 1.3, 1.0)
    ki67 = np.round(np.clip(ki67, 0.5, 90.0), 1)
    ki67_missing = rng.random(n) < 0.12
    derived = np.where(ki67 < 3, 0, np.where(ki67 <= 20, 1, 2))
    true_grade = np.where(ki67_missing, _category(rng, (0.45, 0.45, 0.10), n), derived)
    burden0 = np.round(np.clip(np.exp(rng.normal(np.log(15), 0.8, n)), 1, 95))
    return Patients(
        ids=ids,
        primary=primary,
        ki67=ki67,
        ki67_missing=ki67_missing,
        true_grade=true_grade,
        response_type=_category(rng, RESPONSE_TYPE_SHARE, n),
        burden0=burden0,
    )


def _timeline(rng: np.random.Generator, pts: Patients) -> Timeline:
    n = len(pts.ids)
    rows = np.arange(n)
    b0 = rng.integers(FIRST_BASELINE_DAY, DATA_CUTOFF_DAY - 180, n)
    t0 = b0 + rng.integers(1, 31, n)
    gaps = rng.integers(60, 121, (n, MAX_STUDIES - 1))
    study_day = b0[:, None] + np.concatenate([np.zeros((n, 1), np.int64), gaps.cumsum(1)], 1)

    # Session k comes 1-21 days after study j_k; j steps by 1, or by 2 when that keeps
    # consecutive sessions within six months.
    session_day = np.empty((n, MAX_SESSIONS), np.int64)
    session_day[:, 0] = t0
    j = np.zeros(n, np.int64)
    for k in range(1, MAX_SESSIONS):
        two = (rng.random(n) < 0.35) & (study_day[rows, j + 2] - study_day[rows, j] <= 155)
        j = j + 1 + two
        session_day[:, k] = study_day[rows, j] + rng.integers(1, 22, n)
    planned = _category(rng, (0.35, 0.35, 0.20, 0.10), n) + 1

    # Survival from the first session: shorter for higher grade and larger burden.
    median_days = np.array([2600.0, 1700.0, 600.0])[pts.true_grade]
    median_days *= np.exp(-0.012 * (pts.burden0 - 15))
    death = 30 + rng.exponential(median_days / np.log(2))
    admin = (DATA_CUTOFF_DAY - t0 - rng.integers(0, 61, n)).astype(float)
    lost = np.where(rng.random(n) < 0.12, rng.integers(60, 1500, n), np.inf)
    follow = np.minimum(death, np.minimum(admin, lost))
    end = t0 + np.floor(follow).astype(np.int64)
    dead = death <= np.minimum(admin, lost)

    session_ok = (np.arange(MAX_SESSIONS) < planned[:, None]) & (session_day <= end[:, None] - 14)
    last_session = np.where(session_ok, session_day, 0).max(axis=1)
    obs_end = np.minimum(end - 1, last_session + rng.integers(270, 901, n))
    return Timeline(
        t0=t0,
        end=end,
        dead=dead,
        obs_end=obs_end,
        study_day=study_day,
        study_ok=study_day <= obs_end[:, None],
        session_day=session_day,
        session_ok=session_ok,
    )


def _patients_frame(rng: np.random.Generator, pts: Patients, tl: Timeline) -> Frame:
    n = len(pts.ids)
    age = np.clip(rng.normal(62, 11, n), 25, 88).astype(np.int64)
    birth_year = text.year_of(tl.t0) - age - rng.integers(0, 2, n)
    derived = np.where(pts.ki67 < 3, 0, np.where(pts.ki67 <= 20, 1, 2))
    given = np.where(pts.ki67_missing, rng.random(n) < 0.6, rng.random(n) < 0.5)
    # A few given grades disagree with Ki-67 on purpose: data quality reports them.
    inconsistent = ~pts.ki67_missing & (rng.random(n) < 0.04)
    grade = np.where(inconsistent, (derived + rng.integers(1, 3, n)) % 3, pts.true_grade)
    pancreas = pts.primary == PANCREAS
    whipple = rng.random(n) < np.where(pancreas, 0.10, 0.005)
    anastomosis = whipple | (rng.random(n) < np.where(pancreas, 0.03, 0.01))
    columns = {
        "patient_id": pts.ids,
        "sex": text.pick(("M", "F", "U"), _category(rng, (0.53, 0.46, 0.01), n)),
        "birth_year": text.fixed(birth_year, 0),
        "primary_site": text.pick(PRIMARY_SITES, pts.primary),
        "ki67_pct": text.fixed(pts.ki67, 1, pts.ki67_missing),
        "who_grade": text.pick(GRADES, grade, ~given),
        "functional": text.boolean(rng.random(n) < 0.30, rng, rng.random(n) < 0.03),
        "bilioenteric_anastomosis": text.boolean(anastomosis, rng, rng.random(n) < 0.05),
        "prior_whipple": text.boolean(whipple, rng, rng.random(n) < 0.05),
        "death_date": text.iso_date(tl.end, ~tl.dead),
        "last_contact_date": text.iso_date(tl.end, tl.dead),
    }
    return Frame(columns, np.arange(n), np.zeros(n, np.int64), np.zeros(n, np.int64))


@dataclass
class BaselineLesions:
    """Lesions present at baseline (targets then non-targets), one entry per lesion."""

    patient: np.ndarray
    number: np.ndarray  # 1-based lesion number within the patient
    role: np.ndarray
    organ: np.ndarray
    segment: np.ndarray  # 1..8 for liver, 0 otherwise
    base: np.ndarray  # baseline size in tenths of a mm (short axis for nodes)
    n_targets: np.ndarray  # per patient
    n_baseline: np.ndarray  # per patient


def _baseline_lesions(rng: np.random.Generator, pts: Patients) -> BaselineLesions:
    n = len(pts.ids)
    n_targets = _category(rng, (0.20, 0.50, 0.17, 0.09, 0.04), n) + 1
    n_non_targets = _category(rng, (0.30, 0.35, 0.23, 0.12), n)
    n_liver_targets = np.where((n_targets >= 2) & (rng.random(n) < 0.85), 2, 1)
    # Extrahepatic target organs in a weighted random order per patient; slots after the
    # liver ones take organs A, A, B, C so that no organ has more than two targets.
    extra = np.array([NODE, LUNG, PERITONEUM, PANCREAS_ORGAN, OTHER_ORGAN])
    weights = np.tile([5.0, 1.5, 1.5, 0.3, 0.4], (n, 1))
    weights[pts.primary == PANCREAS, 3] = 2.0
    ranked = extra[np.argsort(-(rng.random((n, 5)) ** (1 / weights)), axis=1)]

    counts = n_targets + n_non_targets
    patient, slot = _ragged(counts)
    m = len(patient)
    is_target = slot < n_targets[patient]
    extra_slot = np.clip(slot - n_liver_targets[patient], 0, 3)
    target_organ = np.where(
        slot < n_liver_targets[patient], LIVER, ranked[patient, np.array([0, 0, 1, 2])[extra_slot]]
    )
    non_target_organ = np.array([LIVER, NODE, BONE, PERITONEUM, LUNG, OTHER_ORGAN])[
        _category(rng, (0.55, 0.12, 0.13, 0.08, 0.08, 0.04), m)
    ]
    organ = np.where(is_target, target_organ, non_target_organ)
    segment = np.where(organ == LIVER, _category(rng, SEGMENT_SHARE, m) + 1, 0)

    def lognormal_mm(median: float, cap: float) -> np.ndarray:
        return np.minimum(np.exp(rng.normal(np.log(median), 0.6, m)), cap)

    nodal = organ == NODE
    target_size = np.where(
        nodal,
        15 + lognormal_mm(7, 65),
        np.where(organ == LIVER, 10 + lognormal_mm(22, 190), 10 + lognormal_mm(10, 110)),
    )
    non_target_size = np.where(nodal, rng.uniform(10.0, 14.9, m), 3 + lognormal_mm(12, 80))
    base = np.rint(np.where(is_target, target_size, non_target_size) * 10).astype(np.int64)
    return BaselineLesions(
        patient=patient,
        number=slot + 1,
        role=np.where(is_target, TARGET, NON_TARGET),
        organ=organ,
        segment=segment,
        base=base,
        n_targets=n_targets,
        n_baseline=counts,
    )


@dataclass
class SessionPlan:
    """Per (patient, session slot): modality code and treated segment mask."""

    modality: np.ndarray
    style: np.ndarray
    mask: np.ndarray


def _session_plan(rng: np.random.Generator, tl: Timeline, bl: BaselineLesions) -> SessionPlan:
    n = tl.t0.shape[0]
    liver = bl.organ == LIVER
    liver_mask = np.zeros(n, np.int64)
    np.bitwise_or.at(liver_mask, bl.patient[liver], 1 << (bl.segment[liver] - 1))

    first = _category(rng, MODALITY_SHARE, n)
    switched = rng.random((n, MAX_SESSIONS)) < 0.2
    switched[:, 0] = False
    modality = np.where(switched, _category(rng, MODALITY_SHARE, (n, MAX_SESSIONS)), first[:, None])

    right_only = (liver_mask & ~RIGHT_LOBE) == 0
    left_only = (liver_mask & ~LEFT_LOBE) == 0
    u = rng.random((n, MAX_SESSIONS))
    alternate = np.where(np.arange(MAX_SESSIONS) % 2 == 0, TERRITORY_RIGHT, TERRITORY_LEFT)
    style = np.where(
        right_only[:, None],
        np.where(u < 0.5, TERRITORY_RIGHT, np.where(u < 0.9, TERRITORY_LIST, TERRITORY_WHOLE)),
        np.where(
            left_only[:, None],
            np.where(u < 0.5, TERRITORY_LEFT, np.where(u < 0.9, TERRITORY_LIST, TERRITORY_WHOLE)),
            np.where(u < 0.4, TERRITORY_WHOLE, np.where(u < 0.7, alternate, TERRITORY_LIST)),
        ),
    )
    # A segment list covers most (not always all) of the lesion segments: superselective.
    keep_bits = ((rng.random((n, MAX_SESSIONS, 8)) < 0.8) << np.arange(8)).sum(axis=2)
    subset = liver_mask[:, None] & keep_bits
    subset = np.where(subset == 0, liver_mask[:, None], subset)
    mask = np.choose(style, [subset, RIGHT_LOBE, LEFT_LOBE, WHOLE_LIVER])
    return SessionPlan(modality=modality, style=style, mask=mask)


def _sessions_frame(
    rng: np.random.Generator, pts: Patients, tl: Timeline, plan: SessionPlan, first_session: int
) -> Frame:
    p, k = np.nonzero(tl.session_ok)
    m = len(p)
    modality = plan.modality[p, k]
    spelling_count = np.array([len(s) for s in MODALITY_SPELLINGS])
    spelling_offset = np.cumsum(spelling_count) - spelling_count
    spelling = spelling_offset[modality] + (rng.random(m) * spelling_count[modality]).astype(int)
    flat_spellings = [s for group in MODALITY_SPELLINGS for s in group]

    style = plan.style[p, k]
    territory = text.segment_list(plan.mask[p, k])
    named = pc.take(
        pa.array([None, "right_lobe", "left_lobe", "whole_liver"], pa.string()),
        pa.array(style),
    )
    territory = pc.if_else(pa.array(style == TERRITORY_LIST), territory, named)

    tace = (modality == CTACE) | (modality == DEB_TACE)
    agent = np.where(modality == DEB_TACE, 0, _category(rng, CTACE_AGENT_SHARE, m))
    doxorubicin = tace & (agent == 0)
    glass = rng.random(m) < 0.4
    activity = np.where(glass, rng.uniform(1.2, 5.5, m), rng.uniform(0.6, 2.2, m))
    activity *= np.where(style == TERRITORY_WHOLE, 1.3, 1.0)
    tare = modality == TARE

    lines_first = _category(rng, (0.35, 0.30, 0.20, 0.10, 0.03, 0.02), len(pts.ids))
    step = np.zeros((len(pts.ids), MAX_SESSIONS), np.int64)
    step[:, 1:] = rng.random((len(pts.ids), MAX_SESSIONS - 1)) < 0.2
    lines = np.minimum(lines_first[:, None] + step.cumsum(axis=1), 5)[p, k]

    low_lvef = (rng.random(len(pts.ids)) < 0.06)[p]
    lvef = np.clip(np.where(low_lvef, rng.normal(45, 3, m), rng.normal(61, 6, m)), 30, 75)
    lvef_recorded = np.where(doxorubicin, rng.random(m) < 0.9, rng.random(m) < 0.05)

    has_ids = (rng.random(len(pts.ids)) < 0.6)[p]
    columns = {
        "patient_id": pc.take(pts.ids, pa.array(p)),
        "session_date": text.iso_date(tl.session_day[p, k]),
        "modality": text.pick(flat_spellings, spelling),
        "treated_territory": territory,
        # A running number, never derived from the patient identifier.
        "session_id": text.prefixed("S", first_session + np.arange(m), 7),
        "agent": text.pick(AGENTS, agent, ~tace | (rng.random(m) < 0.03)),
        "microsphere": text.pick(("resin", "glass"), glass.astype(int), ~tare),
        "activity_gbq": text.fixed(activity, 2, ~tare | (rng.random(m) < 0.05)),
        "prior_systemic_lines": text.fixed(lines, 0, rng.random(m) < 0.04),
        "lvef_pct": text.fixed(lvef, 0, ~lvef_recorded),
    }
    columns["session_id"] = pc.if_else(pa.array(has_ids), columns["session_id"], text.NULL_TEXT)
    return Frame(columns, p, tl.session_day[p, k], np.zeros(m, np.int64), {"session_number": k + 1})


@dataclass
class LesionRows:
    """Lesion measurements, one entry per lesion (fragment) per study, before formatting."""

    patient: np.ndarray
    study: np.ndarray  # position of the study in the patient's timeline (0 = baseline)
    number: np.ndarray
    fragment: np.ndarray  # 0, or 1 for the second fragment of a split lesion
    role: np.ndarray
    organ: np.ndarray
    segment: np.ndarray
    status: np.ndarray
    longest: np.ndarray  # tenths of a mm, -1 = empty
    short: np.ndarray
    viable: np.ndarray
    size: np.ndarray  # modelled size in tenths (for the liver tumour burden)
    split: np.ndarray
    after_tare: np.ndarray  # the study follows the TARE session that treated the lesion


def _baseline_lesion_rows(
    rng: np.random.Generator,
    pts: Patients,
    tl: Timeline,
    bl: BaselineLesions,
    plan: SessionPlan,
) -> LesionRows:
    n = len(pts.ids)
    n_studies = tl.n_studies
    lesion, j = _ragged(n_studies[bl.patient])
    p = bl.patient[lesion]
    day = tl.study_day[p, j]
    m_lesions = len(bl.patient)

    # The first session whose territory covers the lesion's segment treats it.
    treated = np.full(m_lesions, np.iinfo(np.int64).max)
    treated_by_tare = np.zeros(m_lesions, bool)
    for k in range(MAX_SESSIONS - 1, -1, -1):
        covers = (plan.mask[bl.patient, k] >> np.maximum(bl.segment - 1, 0)) & 1
        hit = tl.session_ok[bl.patient, k] & (bl.organ == LIVER) & (covers == 1)
        treated = np.where(hit, tl.session_day[bl.patient, k], treated)
        treated_by_tare = np.where(hit, plan.modality[bl.patient, k] == TARE, treated_by_tare)

    rtype = pts.response_type[bl.patient]
    shrink = np.clip(SHRINK[rtype] + rng.normal(0, 0.12, m_lesions), -0.1, 0.97)
    growth = GROWTH_PER_YEAR[rtype] + rng.normal(0, 0.1, m_lesions)
    viable0 = rng.uniform(0.75, 1.0, m_lesions)
    necrotic = rng.random(m_lesions) < NECROSIS_SHARE[rtype]
    viable_post = np.where(necrotic, 0.0, viable0 * rng.uniform(0.15, 0.8, m_lesions))
    regrower = (rng.random(n) < 0.3)[bl.patient]
    regrow_delay = rng.integers(150, 400, n)[bl.patient]
    regrow_rate = rng.uniform(0.5, 1.2, n)[bl.patient]

    since = (day - np.minimum(treated[lesion], day + 1)).astype(float)  # <= 0: not yet treated
    on = since > 0
    regrowing = np.where(on & regrower[lesion], np.maximum(0, since - regrow_delay[lesion]), 0)
    factor = (
        np.exp(growth[lesion] * (day - tl.study_day[p, 0]) / 365)
        * np.where(on, 1 - shrink[lesion] * np.minimum(1, since / 75), 1)
        * np.exp(regrow_rate[lesion] * regrowing / 365)
        * np.where(j > 0, 1 + rng.normal(0, 0.04, len(j)), 1)
    )
    # Growth saturates below the size of the organ (a liver is about 250 mm across).
    cap = np.where(bl.organ == LIVER, 2500.0, np.where(bl.organ == NODE, 800.0, 1200.0))[lesion]

    def saturated(tenths: np.ndarray, cap: np.ndarray) -> np.ndarray:
        return np.rint(tenths / (1 + (tenths / cap) ** 4) ** 0.25).astype(np.int64)

    grown = bl.base[lesion] * factor
    size = np.where(j > 0, saturated(grown, cap), bl.base[lesion])  # baseline: exactly base
    viable_fraction = np.where(
        on,
        np.where(
            regrowing > 0,
            np.minimum(viable0[lesion], viable_post[lesion] + regrowing / 240),
            viable_post[lesion],
        ),
        viable0[lesion],
    )
    viable = np.minimum(size, np.rint(size * viable_fraction).astype(np.int64))

    role = bl.role[lesion]
    organ = bl.organ[lesion]
    nodal = organ == NODE
    # Coalescence: the second liver target merges into the first from some study on; its
    # size is then recorded on the first (input contract).
    two_liver = np.zeros(n, bool)
    second_liver = (bl.number == 2) & (bl.role == TARGET) & (bl.organ == LIVER)
    two_liver[bl.patient[second_liver]] = True
    fate = rng.random(n)
    coalescing = two_liver & (fate < 0.04) & (n_studies >= 3)
    coalesce_from = rng.integers(1, np.maximum(n_studies, 2))
    rows_merged = np.flatnonzero(second_liver[lesion] & coalescing[p] & (j >= coalesce_from[p]))
    partner = rows_merged - n_studies[p[rows_merged]]
    size[partner] = saturated(size[partner] + size[rows_merged], cap[partner])
    viable[partner] = np.minimum(size[partner], viable[partner] + viable[rows_merged])

    followup = j > 0
    not_evaluated = followup & (rng.random(len(j)) < 0.015)
    status = np.where(
        role == TARGET,
        np.where(size < 30, ABSENT, np.where(size < 50, TOO_SMALL, MEASURED)),
        np.where(
            size < 30,
            ABSENT,
            np.where(
                followup & (size > 2.2 * bl.base[lesion]),
                PROGRESSION,
                np.where(on & (viable == 0), NON_ENHANCING, PRESENT),
            ),
        ),
    )
    status = np.where(not_evaluated, NOT_EVALUATED, status)
    status[rows_merged] = COALESCED
    # Nodes are always measured by their short axis (targets) or present (non-targets).
    status = np.where(nodal, np.where(role == TARGET, MEASURED, PRESENT), status)

    measured_solid = (role == TARGET) & ~nodal & (status == MEASURED)
    longest = np.where(measured_solid, size, -1)
    viable_out = np.where(measured_solid & ~(followup & (rng.random(len(j)) < 0.01)), viable, -1)
    short = np.where(nodal, size, -1)

    # Splits: the first liver target of some patients breaks into two fragments of
    # different sizes from some study on; the fragments add up to the lesion's size.
    splitting = ~coalescing & (fate > 0.96) & (n_studies >= 3)
    split_from = rng.integers(1, np.maximum(n_studies, 2))
    split_rows = np.flatnonzero(
        (bl.number[lesion] == 1)
        & splitting[p]
        & (j >= split_from[p])
        & measured_solid
        & (size >= 100)
    )
    share = rng.uniform(0.55, 0.72, len(split_rows))
    first_part = np.rint(size[split_rows] * share).astype(np.int64)
    second_part = size[split_rows] - first_part
    v = viable_out[split_rows]
    v_first = np.where(v < 0, -1, np.minimum(first_part, np.rint(v * share).astype(np.int64)))
    v_second = np.where(v < 0, -1, np.minimum(second_part, v - v_first))
    longest[split_rows] = first_part
    viable_out[split_rows] = v_first
    split = np.zeros(len(j), bool)
    split[split_rows] = True

    def with_fragments(values: np.ndarray, second: np.ndarray | None = None) -> np.ndarray:
        extra = values[split_rows] if second is None else second
        return np.concatenate([values, extra])

    return LesionRows(
        patient=with_fragments(p),
        study=with_fragments(j),
        number=with_fragments(bl.number[lesion]),
        fragment=np.concatenate([np.zeros(len(j), np.int64), np.ones(len(split_rows), np.int64)]),
        role=with_fragments(role),
        organ=with_fragments(organ),
        segment=with_fragments(bl.segment[lesion]),
        status=with_fragments(status),
        longest=with_fragments(longest, second_part),
        short=with_fragments(short),
        viable=with_fragments(viable_out, v_second),
        size=np.concatenate([np.where(status == COALESCED, 0, size), np.zeros_like(second_part)]),
        split=with_fragments(split),
        after_tare=with_fragments(treated_by_tare[lesion] & on),
    )


def _new_lesion_rows(
    rng: np.random.Generator,
    pts: Patients,
    tl: Timeline,
    bl: BaselineLesions,
    plan: SessionPlan,
) -> tuple[LesionRows, np.ndarray]:
    """New lesions (in and out of the treated field, and extrahepatic) and lesions per patient."""
    n = len(pts.ids)
    n_studies = tl.n_studies
    chance = np.where(pts.response_type == PROGRESSOR, 0.6, 0.18)
    first = rng.random(n) < chance
    wanted = np.stack([first, first & (rng.random(n) < 0.35)], axis=1)
    wanted &= (n_studies >= 2)[:, None]
    p, slot = np.nonzero(wanted)
    m = len(p)
    number = bl.n_baseline[p] + 1 + slot
    appear = rng.integers(1, np.maximum(n_studies[p], 2))

    treated_mask = np.where(tl.session_ok, plan.mask, 0)
    treated_mask = np.bitwise_or.reduce(treated_mask, axis=1)[p]
    outside_mask = ~treated_mask & WHOLE_LIVER
    where_ = rng.random(m)
    in_field = (where_ < 0.35) | ((where_ < 0.7) & (outside_mask == 0))
    liver = where_ < 0.7
    segment = np.where(
        in_field,
        _random_set_bit(rng, treated_mask),
        _random_set_bit(rng, np.where(outside_mask == 0, treated_mask, outside_mask)),
    )
    extra_organ = np.array([LUNG, BONE, NODE, PERITONEUM])[
        _category(rng, (0.3, 0.3, 0.25, 0.15), m)
    ]
    organ = np.where(liver, LIVER, extra_organ)
    segment = np.where(liver, segment, 0)
    base = np.where(organ == NODE, rng.uniform(10, 20, m), rng.uniform(6, 18, m)) * 10
    equivocal_first = rng.random(m) < 0.3

    lesion, offset = _ragged(n_studies[p] - appear)
    lp = p[lesion]
    j = appear[lesion] + offset
    grown = base[lesion] * np.exp(
        0.8 * (tl.study_day[lp, j] - tl.study_day[lp, appear[lesion]]) / 365
    )
    size = np.rint(grown).astype(np.int64)
    last = j == n_studies[lp] - 1
    status = np.where((offset == 0) & equivocal_first[lesion] & ~last, EQUIVOCAL, PRESENT)
    lorgan = organ[lesion]
    present = status == PRESENT
    has_longest = present & (lorgan != NODE) & (lorgan != BONE)
    rows = LesionRows(
        patient=lp,
        study=j,
        number=number[lesion],
        fragment=np.zeros(len(j), np.int64),
        role=np.full(len(j), NEW),
        organ=lorgan,
        segment=segment[lesion],
        status=status,
        longest=np.where(has_longest, size, -1),
        short=np.where(present & (lorgan == NODE), size, -1),
        viable=np.where(has_longest & (lorgan == LIVER), size, -1),
        size=np.zeros(len(j), np.int64),
        split=np.zeros(len(j), bool),
        after_tare=np.zeros(len(j), bool),
    )
    lesions_per_patient = bl.n_baseline + np.bincount(p, minlength=n)
    return rows, lesions_per_patient


def _concat_rows(a: LesionRows, b: LesionRows) -> LesionRows:
    return LesionRows(
        **{
            f: np.concatenate([getattr(a, f), getattr(b, f)])
            for f in LesionRows.__dataclass_fields__
        }
    )


def _lesions_frame(
    rng: np.random.Generator,
    pts: Patients,
    tl: Timeline,
    rows: LesionRows,
    study_is_ct: np.ndarray,
    lesions_per_patient: np.ndarray,
) -> Frame:
    m = len(rows.patient)
    day = tl.study_day[rows.patient, rows.study]
    has_size = (rows.longest >= 0) | (rows.short >= 0)
    hu = np.where(rows.viable == 0, rng.normal(25, 8, m), rng.normal(65, 15, m))
    hu_missing = ~(study_is_ct[rows.patient, rows.study] & has_size & (rng.random(m) < 0.5))
    # EASL and Choi inputs, drawn from a child generator so that every other column
    # keeps its values for a given seed: the enhancing part's perpendicular diameter
    # (60-95 % of the viable diameter; missing on 4 % of rows, so EASL meets NE), and
    # a density that falls after TARE (radiation necrosis: 55-85 % of the drawn HU).
    extra = rng.spawn(1)[0]
    perpendicular = np.where(
        rows.viable > 0, np.rint(rows.viable * extra.uniform(0.6, 0.95, m)), rows.viable
    )
    perpendicular_missing = (rows.viable < 0) | (extra.random(m) < 0.04)
    hu = np.where(rows.after_tare, hu * extra.uniform(0.55, 0.85, m), hu)
    columns = {
        "patient_id": pc.take(pts.ids, pa.array(rows.patient)),
        "study_date": text.iso_date(day),
        "lesion_id": text.prefixed("L", rows.number),
        "role": text.pick(ROLES, rows.role),
        "organ": text.pick(ORGANS, rows.organ),
        "liver_segment": text.fixed(rows.segment, 0, rows.organ != LIVER),
        "status": text.pick(STATUSES, rows.status),
        "longest_diameter_mm": text.fixed(rows.longest / 10, 1, rows.longest < 0),
        "short_axis_mm": text.fixed(rows.short / 10, 1, rows.short < 0),
        "viable_diameter_mm": text.fixed(rows.viable / 10, 1, rows.viable < 0),
        "viable_perpendicular_mm": text.fixed(perpendicular / 10, 1, perpendicular_missing),
        "attenuation_hu": text.fixed(hu, 0, hu_missing),
    }
    traits = {
        "followup": rows.study > 0,
        "role": rows.role,
        "organ": rows.organ,
        "status": rows.status,
        "split": rows.split,
        "measured_solid_target": (rows.role == TARGET) & (rows.longest >= 0),
        "lesions_of_patient": lesions_per_patient[rows.patient],
    }
    return Frame(columns, rows.patient, day, rows.number * 2 + rows.fragment, traits)


def _imaging_frame(
    rng: np.random.Generator,
    pts: Patients,
    tl: Timeline,
    rows: LesionRows,
    bl: BaselineLesions,
) -> tuple[Frame, np.ndarray]:
    n = len(pts.ids)
    p, j = np.nonzero(tl.study_ok)
    m = len(p)
    n_studies = tl.n_studies
    study_start = np.cumsum(n_studies) - n_studies
    flat = study_start[rows.patient] + rows.study

    liver = (rows.organ == LIVER) & (rows.role != NEW)
    liver_sum = np.bincount(flat[liver], weights=rows.size[liver], minlength=m)
    ratio = liver_sum / np.maximum(liver_sum[study_start[p]], 1)
    burden = np.clip(np.rint(pts.burden0[p] * ratio**1.5), 1, 95)

    extrahepatic = np.zeros(n, bool)
    extrahepatic[bl.patient[bl.organ != LIVER]] = True
    extrahepatic = extrahepatic[p]
    extra_new = (rows.role == NEW) & (rows.organ != LIVER)
    extrahepatic[flat[extra_new]] = True

    mr_patient = rng.random(n) < 0.35
    is_mr = mr_patient[p] ^ (rng.random(m) < 0.1)
    occluded = (rng.random(n) < np.where(pts.burden0 >= 50, 0.10, 0.02))[p]
    ascites = rng.random(m) < 0.02 + 0.12 * (burden >= 50)
    columns = {
        "patient_id": pc.take(pts.ids, pa.array(p)),
        "study_date": text.iso_date(tl.study_day[p, j]),
        "modality": text.pick(("CT", "MR"), is_mr.astype(int)),
        "extrahepatic_disease": text.boolean(extrahepatic, rng, rng.random(m) < 0.03),
        "ascites": text.boolean(ascites, rng, rng.random(m) < 0.04),
        "liver_tumor_burden_pct": text.fixed(burden, 0, rng.random(m) < 0.03),
        "portal_vein_occlusion": text.boolean(occluded, rng, rng.random(m) < 0.05),
    }
    traits = {"followup": j > 0, "has_next": j < n_studies[p] - 1}
    frame = Frame(columns, p, tl.study_day[p, j], np.zeros(m, np.int64), traits)
    study_is_ct = np.zeros(tl.study_ok.shape, bool)
    study_is_ct[p, j] = ~is_mr
    return frame, study_is_ct


def _lab_draws(rng: np.random.Generator, pts: Patients, tl: Timeline) -> Frame:
    n = len(pts.ids)
    # Regular draws every 2-6 weeks from 3-6 weeks before the first session.
    first_draw = tl.t0 - rng.integers(20, 46, n)
    slots = (tl.obs_end - first_draw) // 14 + 1
    owner, _ = _ragged(slots)
    gaps = rng.integers(14, 43, len(owner))
    starts = np.cumsum(slots) - slots
    gaps[starts] = 0
    walked = gaps.cumsum()
    regular = first_draw[owner] + walked - walked[starts][owner]
    keep = regular <= tl.obs_end[owner]
    # One draw within two weeks before every session, one 2-10 days after it.
    sp, sk = np.nonzero(tl.session_ok)
    before = tl.session_day[sp, sk] - rng.integers(0, 15, len(sp))
    after = tl.session_day[sp, sk] + rng.integers(2, 11, len(sp))
    after_ok = after <= tl.obs_end[sp]
    key = np.unique(
        np.concatenate(
            [
                owner[keep] * 65536 + regular[keep],
                sp * 65536 + before,
                sp[after_ok] * 65536 + after[after_ok],
            ]
        )
    )  # one draw per patient and day, so no two good results share an instant by accident
    dp, dday = key // 65536, key % 65536
    d = len(dp)

    # Days since the latest session strictly before the draw (post-embolisation changes).
    session_key = np.sort(sp * 65536 + tl.session_day[sp, sk])
    latest = np.searchsorted(session_key, key, side="left") - 1
    latest_ok = (latest >= 0) & (session_key[np.maximum(latest, 0)] // 65536 == dp)
    since = np.where(latest_ok, dday - session_key[np.maximum(latest, 0)] % 65536, 10_000)
    post = np.exp(-since / 10.0)
    years_treated = np.maximum(0, dday - tl.t0[dp]) / 365

    def per_patient(median: float, sigma: float, odd_share: float, low: float, high: float):
        base = np.exp(rng.normal(np.log(median), sigma, n))
        return np.where(rng.random(n) < odd_share, rng.uniform(low, high, n), base)[dp]

    high_nlr = (rng.random(n) < 0.15)[dp]
    rising_nlr = (rng.random(n) < 0.20)[dp]
    low_albumin = (rng.random(n) < 0.15)[dp]
    value = np.empty((d, 8))
    value[:, BILI] = per_patient(0.55, 0.35, 0.08, 1.6, 3.2) * (1 + 0.6 * post)
    value[:, BILI] = np.where((rng.random(n) < 0.04)[dp], rng.uniform(0.1, 0.25, d), value[:, BILI])
    value[:, ALB] = np.where(
        low_albumin, rng.normal(3.3, 0.25, n)[dp], rng.normal(4.1, 0.35, n)[dp]
    )
    value[:, ALB] += rng.normal(0, 0.12, d) - 0.35 * post
    value[:, CREA] = per_patient(0.85, 0.2, 0.02, 1.8, 3.0)
    ldh = per_patient(200, 0.25, 0.12, 400, 800)
    value[:, LDH] = np.where((rng.random(n) < 0.015)[dp], rng.uniform(900, 1800, n)[dp], ldh)
    value[:, LDH] *= 1 + 0.8 * post
    value[:, AST] = per_patient(26, 0.3, 0.08, 80, 160) * (1 + 3 * post)
    value[:, PLT] = np.clip(rng.normal(240, 55, n), 60, 600)[dp]
    value[:, PLT] = np.where((rng.random(n) < 0.05)[dp], rng.uniform(70, 110, n)[dp], value[:, PLT])
    value[:, PLT] *= 1 - 0.15 * post
    value[:, NEUT] = per_patient(3.8, 0.25, 0, 0, 0) * np.where(high_nlr, 1.4, 1.0)
    value[:, NEUT] *= (1 + 0.6 * post) * np.where(rising_nlr, 1 + 0.6 * years_treated, 1)
    value[:, LYMPH] = per_patient(1.65, 0.25, 0, 0, 0) * np.where(high_nlr, 0.55, 1.0)
    value[:, LYMPH] *= (1 - 0.35 * post) / np.where(rising_nlr, 1 + 0.3 * years_treated, 1)
    multiplicative = np.array([a != ALB for a in range(8)])
    value[:, multiplicative] *= np.exp(rng.normal(0, 0.08, (d, int(multiplicative.sum()))))
    value = np.clip(value, VALUE_LIMITS[:, 0], VALUE_LIMITS[:, 1])

    present = rng.random((d, 8)) < np.array([0.95, 0.95, 0.95, 0.80, 0.95, 0, 0, 0])
    present[:, PLT:] = (rng.random(d) < 0.97)[:, None]
    draw, analyte = np.nonzero(present)
    v = value[draw, analyte]

    # A handful of same-instant results with a different value (labs-and-flags L4): kept.
    pair_pool = np.flatnonzero(np.isin(analyte, (ALB, AST, PLT)))
    n_pairs = min(len(pair_pool), max(1, round(len(draw) * 0.0005)))
    pair_source = np.sort(rng.choice(pair_pool, n_pairs, replace=False))
    bump = np.array([0, 0.1, 0, 0, 2, 5, 0, 0])[analyte[pair_source]]
    draw = np.concatenate([draw, draw[pair_source]])
    analyte = np.concatenate([analyte, analyte[pair_source]])
    v = np.concatenate([v, v[pair_source] * 1.1 + bump])
    paired = np.zeros(len(draw), bool)
    paired[pair_source] = True
    paired[len(paired) - n_pairs :] = True
    order = analyte * 2 + np.r_[np.zeros(len(draw) - n_pairs, int), np.ones(n_pairs, int)]
    r = len(draw)

    system = (rng.random(r) < ALTERNATIVE_UNIT_SHARE).astype(np.int64)
    system[len(paired) - n_pairs :] = system[pair_source]
    reported = np.rint(v * UNIT_FACTOR[analyte, system] / UNIT_STEP[analyte, system])
    reported *= UNIT_STEP[analyte, system]
    decimals = UNIT_DECIMALS[analyte, system]
    value_text = text.fixed_per_row(reported, decimals)
    censored_low = (analyte == BILI) & (system == 0) & (reported < 0.2)
    censored_high = (analyte == LDH) & (system == 0) & (reported > 1000)
    value_text = pc.if_else(pa.array(censored_low), "<0.2", value_text)
    value_text = pc.if_else(pa.array(censored_high), ">1000", value_text)

    unit_lists = [UNIT_SPELLINGS[a][s] for a in range(8) for s in range(2)]
    unit_count = np.array([len(u) for u in unit_lists])
    unit_offset = np.cumsum(unit_count) - unit_count
    group = analyte * 2 + system
    unit_index = unit_offset[group] + (rng.random(r) * unit_count[group]).astype(int)
    test_count = np.array([len(t) for t in TEST_SPELLINGS])
    test_offset = np.cumsum(test_count) - test_count
    test_index = test_offset[analyte] + (rng.random(r) * test_count[analyte]).astype(int)
    # The extra result of a pair repeats the first one's test and unit spelling.
    test_index[len(paired) - n_pairs :] = test_index[pair_source]
    unit_index[len(paired) - n_pairs :] = unit_index[pair_source]

    has_time = rng.random(d) < 0.4
    seconds = dday * 86400 + 7 * 3600 + rng.integers(0, 300, d) * 60
    collected = pc.if_else(pa.array(has_time), text.iso_datetime(seconds), text.iso_date(dday))
    columns = {
        "patient_id": pc.take(pts.ids, pa.array(dp[draw])),
        "collected_at": pc.take(collected, pa.array(draw)),
        "test": text.pick([t for group in TEST_SPELLINGS for t in group], test_index),
        "value": value_text,
        "unit": text.pick([u for group in unit_lists for u in group], unit_index),
    }
    traits = {
        "paired": paired,
        "albumin_g_dl": (analyte == ALB) & (system == 0),
    }
    return Frame(columns, dp[draw], dday[draw], order, traits)


def _slice(facts, rows: slice):
    """The same per-patient dataclass restricted to some patients."""
    return type(facts)(**{f: getattr(facts, f)[rows] for f in facts.__dataclass_fields__})


def _labs_frame(rng: np.random.Generator, pts: Patients, tl: Timeline) -> Frame:
    """Lab rows in batches of patients: labs are ~85 % of all rows, so this bounds memory."""
    n = len(pts.ids)
    parts = []
    for start in range(0, n, LAB_BATCH_PATIENTS):
        rows = slice(start, start + LAB_BATCH_PATIENTS)
        part = _lab_draws(rng, _slice(pts, rows), _slice(tl, rows))
        part.patient += start
        parts.append(part)
    return concat_frames(parts)


def build_chunk(
    rng: np.random.Generator, first_index: int, n: int, seed: int, id_style: str, first_session: int
) -> dict[str, Frame]:
    """Good rows of every dataset for patients ``first_index`` … ``first_index + n - 1``."""
    pts = _patient_facts(rng, patient_ids(first_index, n, seed, id_style))
    tl = _timeline(rng, pts)
    bl = _baseline_lesions(rng, pts)
    plan = _session_plan(rng, tl, bl)
    baseline_rows = _baseline_lesion_rows(rng, pts, tl, bl, plan)
    new_rows, lesions_per_patient = _new_lesion_rows(rng, pts, tl, bl, plan)
    rows = _concat_rows(baseline_rows, new_rows)
    imaging, study_is_ct = _imaging_frame(rng, pts, tl, rows, bl)
    return {
        "patients": _patients_frame(rng, pts, tl),
        "sessions": _sessions_frame(rng, pts, tl, plan, first_session),
        "imaging": imaging,
        "lesions": _lesions_frame(rng, pts, tl, rows, study_is_ct, lesions_per_patient),
        "labs": _labs_frame(rng, pts, tl),
    }
