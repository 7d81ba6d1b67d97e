"""Data quality: Great Expectations suites over the raw inputs and the public tables.

Entry points (Great Expectations itself is imported only when checks run):

* :func:`check_build` validates one run where its tables are (the build
  database) and returns a :class:`DqOutcome` (rows for ``dq_results``, fatal
  failures that block publication, a summary by Kahn category and severity)
  and, given a folder, writes an offline report.
* :func:`run_quality_checks` does the same over Arrow tables (the tests).
* :func:`print_dq_summary` prints stored results for ``nelmtrack dq``.

The checks are data in :mod:`expectations.suites`; each suite's frame is
derived by ``expectations/sql/<side>_<table>.sql``; thresholds live in
``config/dq.toml``.
"""

from expectations.console import print_dq_summary
from expectations.runner import DqOutcome, check_build, run_quality_checks

__all__ = ["DqOutcome", "check_build", "print_dq_summary", "run_quality_checks"]
