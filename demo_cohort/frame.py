"""One dataset of one chunk, as the model hands it to the spoiler and the writer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass
class Frame:
    """Text columns in contract order, plus the numbers that order and characterise the rows.

    Rows are written sorted by (``patient``, ``day``, ``order``), so rows added
    later (a duplicated row, a lesion on a shifted date) land where a real export
    would put them. ``traits`` hold per-row facts (is this a follow-up row, a
    measured non-nodal target, …) that decide which rows may be spoiled without
    affecting any other row.
    """

    columns: dict[str, pa.Array | pa.ChunkedArray]
    patient: np.ndarray
    day: np.ndarray
    order: np.ndarray
    traits: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.patient)


def concat_frames(frames: list[Frame]) -> Frame:
    """Rows of several frames of the same dataset, one after the other."""
    first = frames[0]
    return Frame(
        # Chunked, not concatenated: no second copy of the largest dataset.
        columns={c: pa.chunked_array([f.columns[c] for f in frames]) for c in first.columns},
        patient=np.concatenate([f.patient for f in frames]),
        day=np.concatenate([f.day for f in frames]),
        order=np.concatenate([f.order for f in frames]),
        traits={t: np.concatenate([f.traits[t] for f in frames]) for t in first.traits},
    )
