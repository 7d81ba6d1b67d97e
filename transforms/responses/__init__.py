"""Tumour response: RECIST 1.1 / mRECIST at each timepoint, best response, time to event.

``compute_timepoints`` (timepoints.py) turns sessions, imaging studies and
lesion measurements into ``timepoint_responses`` and ``session_responses``.
"""

from .best import compute_best_responses as compute_best_responses
from .timepoints import compute_timepoints as compute_timepoints
