"""Survival and response statistics for the outcome report, from statsmodels.

Every estimate and standard error comes from a well-kept library; this
module chooses the method, derives the confidence limits the documented
way, names the result and documents the choice, so a statistician can redo
any number in R:

* **Kaplan–Meier** (``kaplan_meier``): ``statsmodels.duration.SurvfuncRight``
  (product-limit estimate, Greenwood standard error). The pointwise 95 %
  band is the **log-log** ("cloglog") interval,
  ``S ** exp(±z · se / (S · log S))``: it stays inside [0, 1] and is far
  better behaved than the plain interval in the tails (Kalbfleisch & Prentice
  2002; SAS LIFETEST's default; R ``survfit(conf.type = "log-log")``; R's own
  default is ``"log"``).
* **Median and its CI**: as R ``survival`` (``quantile.survfit``) reads
  them: the median is the first event time the curve is at or below 0.5 (the
  midpoint of an interval where it lies exactly on 0.5, R's and SAS's rule);
  the CI limits are the first times the lower and the upper log-log band
  reach 0.5 — Brookmeyer & Crowley's (1982) test-inversion interval with the
  log-log transform. A limit never reached, or reached only where the band is
  undefined, is ``None`` ("not reached"). statsmodels' ``quantile_ci`` was
  not used for it: it returns no interval when the curve jumps past 0.5 with
  its whole band (many subjects at one time), and an upper limit where the
  band is undefined (S = 0), where R says NA.
* **Median follow-up** (``median_follow_up``): reverse Kaplan–Meier
  (Schemper & Smith 1996): the KM of the censoring times, deaths censored.
  Unlike the median of observed times it is not shortened by early deaths.
* **Log-rank** (``logrank``): ``statsmodels.duration.survdiff`` (Mantel–
  Haenszel, hypergeometric variance, k − 1 df): R ``survdiff``.
* **Cox** (``cox_ph``): ``statsmodels.duration.PHReg`` with **Efron** ties
  (R ``coxph``'s default; day-level times tie often and Breslow's
  approximation biases the HR towards 1 then). HR = exp(β); 95 % Wald CI
  exp(β ± z·se); Wald p-value, as in R's ``summary(coxph)`` table.
* **Exact binomial CI** (``clopper_pearson``):
  ``statsmodels.stats.proportion.proportion_confint(method="beta")``, the
  Clopper–Pearson interval (R ``binom.test``): coverage at least 1 − α, the
  convention for response rates in oncology papers.

lifelines was not used: it caps pandas below 3, which this project pins.
scikit-survival would bring scikit-learn for the same estimators; statsmodels
(0.15) covers all of them and installs with pandas 3 and numpy 2.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.stats.proportion import proportion_confint
from statsmodels.tools.sm_exceptions import ConvergenceWarning

# A survival probability this close to 0.5 is taken as exactly 0.5 (the
# product-limit estimate is a product of ratios: 0.5 may come out as 0.49999…).
_HALF_TOLERANCE = 1e-9


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier curve as a right-continuous step function.

    ``times`` starts at 0 and lists every distinct observed time (event or
    censoring); ``survival``, ``ci_lower`` and ``ci_upper`` hold the value from
    that time until the next one. The band is NaN where it is undefined (S = 0,
    or after the last subject at risk died). ``censor_times`` has one entry per
    censored subject (for tick marks). ``median_ci`` holds (lower, upper); each
    is None where it is not reached.
    """

    times: np.ndarray
    survival: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    censor_times: np.ndarray
    n: int
    events: int
    median: float | None
    median_ci: tuple[float | None, float | None]


@dataclass(frozen=True)
class LogRank:
    statistic: float
    df: int
    p_value: float


@dataclass(frozen=True)
class CoxResult:
    """A Cox model: one row per kept covariate, and why the others were left out.

    ``table`` columns: covariate, hr, ci_lower, ci_upper, p_value (and coef,
    se). ``n`` and ``events`` count the complete cases the model was fitted
    on (rows with a missing kept covariate are left out).
    """

    table: pd.DataFrame
    dropped: list[tuple[str, str]]
    n: int
    events: int
    converged: bool


def _floats(values: Sequence[object]) -> np.ndarray:
    """Numbers or booleans (numpy, pandas nullable or plain) as float, a missing one as NaN."""
    series = pd.Series(np.asarray(values, dtype=object) if not hasattr(values, "dtype") else values)
    return series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _arrays(durations: Sequence[float], events: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Durations as float and events as 0/1; refuse what would silently bias a curve."""
    t = _floats(durations)
    e = _floats(events)
    if t.shape != e.shape or t.ndim != 1:
        raise ValueError("durations and events must be one-dimensional and of the same length")
    if np.isnan(t).any() or np.isnan(e).any():
        raise ValueError("durations and events must not be missing (leave such rows out first)")
    if (t < 0).any():
        raise ValueError("a duration is negative")
    if not np.isin(e, (0.0, 1.0)).all():
        raise ValueError("events must be true/false (1/0)")
    return t, e


def _first_at_half(times: np.ndarray, curve: np.ndarray) -> float | None:
    """The first event time the curve is at or below 0.5 (R ``quantile.survfit``).

    Where the curve lies exactly on 0.5 over an interval, the midpoint of that
    interval (R's and SAS's rule); None where it never reaches 0.5 ("not
    reached"), or stays on 0.5 to the end. NaN (an undefined band) never counts.
    ``times``/``curve``: the curve at its event times only.
    """
    below = np.flatnonzero(curve < 0.5 - _HALF_TOLERANCE)
    on_half = np.flatnonzero(np.abs(curve - 0.5) <= _HALF_TOLERANCE)
    if on_half.size and (not below.size or on_half[0] < below[0]):
        later = below[below > on_half[0]]
        return float((times[on_half[0]] + times[later[0]]) / 2.0) if later.size else None
    return float(times[below[0]]) if below.size else None


def kaplan_meier(
    durations: Sequence[float], events: Sequence[bool], alpha: float = 0.05
) -> KaplanMeier:
    """Product-limit curve with a pointwise log-log band, median and Brookmeyer–Crowley CI."""
    t, e = _arrays(durations, events)
    n = int(t.size)
    censor_times = np.sort(t[e == 0])
    if n == 0:
        empty = np.array([0.0])
        one = np.array([1.0])
        return KaplanMeier(empty, one, one, one, censor_times, 0, 0, None, (None, None))
    times = np.concatenate(([0.0], np.unique(t)))
    if e.sum() == 0:
        ones = np.ones_like(times)
        return KaplanMeier(times, ones, ones, ones, censor_times, n, 0, None, (None, None))
    fit = SurvfuncRight(t, e)
    event_times = np.asarray(fit.surv_times, dtype=float)
    s_events = np.asarray(fit.surv_prob, dtype=float)
    se_events = np.asarray(fit.surv_prob_se, dtype=float)
    z = norm.ppf(1.0 - alpha / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log-log band: se of log(-log S) is se(S) / (S |log S|)
        spread = z * se_events / (s_events * np.abs(np.log(s_events)))
        lower_events = s_events ** np.exp(spread)
        upper_events = s_events ** np.exp(-spread)
    undefined = ~np.isfinite(spread) | (s_events <= 0.0)
    lower_events[undefined] = np.nan
    upper_events[undefined] = np.nan
    # Carry each event time's values forward over the censoring-only times.
    step = np.searchsorted(event_times, times, side="right") - 1
    before_first = step < 0
    pick = np.clip(step, 0, None)
    survival = np.where(before_first, 1.0, s_events[pick])
    ci_lower = np.where(before_first, 1.0, lower_events[pick])
    ci_upper = np.where(before_first, 1.0, upper_events[pick])
    return KaplanMeier(
        times=times,
        survival=survival,
        ci_lower=ci_lower,
        ci_upper=ci_upper,
        censor_times=censor_times,
        n=n,
        events=int(e.sum()),
        median=_first_at_half(event_times, s_events),
        median_ci=(
            _first_at_half(event_times, lower_events),
            _first_at_half(event_times, upper_events),
        ),
    )


def number_at_risk(durations: Sequence[float], at_times: Sequence[float]) -> np.ndarray:
    """Subjects still under observation at each time (duration >= time): a KM plot's table."""
    t = np.sort(np.asarray(durations, dtype=float))
    at = np.asarray(at_times, dtype=float)
    return (t.size - np.searchsorted(t, at, side="left")).astype(np.int64)


def median_follow_up(
    durations: Sequence[float], events: Sequence[bool], alpha: float = 0.05
) -> tuple[float | None, tuple[float | None, float | None]]:
    """Median follow-up by reverse Kaplan–Meier: censoring is the 'event', deaths censor it."""
    t, e = _arrays(durations, events)
    reverse = kaplan_meier(t, 1.0 - e, alpha=alpha)
    return reverse.median, reverse.median_ci


def logrank(
    durations: Sequence[float], events: Sequence[bool], groups: Sequence[object]
) -> LogRank:
    """Log-rank test of equal survival across the groups (k − 1 degrees of freedom).

    NaN statistic and p-value when it cannot be computed: fewer than two
    groups, no event, or a variance of zero (no group comparison at any event).
    """
    t, e = _arrays(durations, events)
    g = np.asarray(groups, dtype=object)
    if g.shape != t.shape:
        raise ValueError("groups must have one value per duration")
    if pd.isna(pd.Series(g)).any():
        raise ValueError("a group is missing (leave such rows out first)")
    codes = pd.factorize(pd.Series(g), sort=True)[0]
    k = int(codes.max()) + 1 if codes.size else 0
    if k < 2 or e.sum() == 0:
        return LogRank(statistic=math.nan, df=max(k - 1, 0), p_value=math.nan)
    try:
        statistic, p_value = survdiff(t, e.astype(int), codes)
    except np.linalg.LinAlgError:  # no information (e.g. one subject at risk at each event)
        return LogRank(statistic=math.nan, df=k - 1, p_value=math.nan)
    return LogRank(statistic=float(statistic), df=k - 1, p_value=float(p_value))


def _drop_reason(x: pd.Series, events: np.ndarray, min_events: int) -> str | None:
    """Why a covariate cannot enter the model: no variation, or too few events in a level."""
    values = x.dropna()
    if values.nunique() < 2:
        return "no variation"
    is_binary = set(values.unique()) <= {0.0, 1.0}
    if is_binary:
        flagged = x.to_numpy(dtype=float) == 1.0
        known = x.notna().to_numpy()
        with_flag = int(events[flagged & known].sum())
        without = int(events[~flagged & known].sum())
        if min(with_flag, without) < min_events:
            return (
                f"too few events ({with_flag} with, {without} without the flag; "
                f"fewer than {min_events} in a group)"
            )
    elif int(events[x.notna().to_numpy()].sum()) < min_events:
        return f"too few events (fewer than {min_events})"
    return None


def _independent(x: pd.DataFrame) -> tuple[list[str], list[tuple[str, str]]]:
    """Covariates in order, less each one that is a linear combination of those before it.

    Such a covariate (two flags always equal among the complete cases, say) has
    no hazard ratio of its own: the model cannot be fitted with both.
    """
    kept: list[str] = []
    dropped: list[tuple[str, str]] = []
    centred = x - x.mean()
    for c in x.columns:
        if np.linalg.matrix_rank(centred[[*kept, c]].to_numpy(dtype=float)) > len(kept):
            kept.append(c)
        else:
            names = ", ".join(kept) or "the intercept"
            dropped.append((c, f"collinear (a combination of {names} among the complete cases)"))
    return kept, dropped


def cox_ph(
    frame: pd.DataFrame,
    duration: str,
    event: str,
    covariates: Sequence[str],
    min_events: int = 5,
    alpha: float = 0.05,
) -> CoxResult:
    """Cox proportional-hazards model (Efron ties) of ``duration``/``event`` on ``covariates``.

    A covariate with no variation, or (binary) with fewer than ``min_events``
    events with or without it, is dropped before fitting and named in
    ``dropped`` with the reason: its HR would be unstable or infinite. Rows
    with a missing value in a kept covariate are left out (complete cases);
    among them, a covariate that is a linear combination of earlier ones is
    dropped too (collinear).
    Booleans are coded 1/0, so a binary flag's HR compares flag vs no flag.
    """
    t_all, e_all = _arrays(
        frame[duration].to_numpy(dtype=float), frame[event].to_numpy(dtype=float)
    )
    data = pd.DataFrame(
        {c: frame[c].astype("Float64").to_numpy(dtype=float, na_value=np.nan) for c in covariates},
        index=frame.index,
    )
    dropped: list[tuple[str, str]] = []
    kept: list[str] = []
    for c in covariates:
        reason = _drop_reason(data[c], e_all, min_events)
        if reason is None:
            kept.append(c)
        else:
            dropped.append((c, reason))
    columns = ["covariate", "coef", "se", "hr", "ci_lower", "ci_upper", "p_value"]
    if not kept:
        return CoxResult(pd.DataFrame(columns=columns), dropped, 0, 0, converged=True)
    complete = data[kept].notna().all(axis=1).to_numpy()
    t, e = t_all[complete], e_all[complete]
    kept, collinear = _independent(data.loc[complete, kept])
    dropped += collinear
    if not kept:
        return CoxResult(pd.DataFrame(columns=columns), dropped, int(t.size), int(e.sum()), True)
    x = data.loc[complete, kept].to_numpy(dtype=float)
    if e.sum() == 0:
        dropped += [(c, "no events among the complete cases") for c in kept]
        return CoxResult(pd.DataFrame(columns=columns), dropped, int(t.size), 0, converged=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = PHReg(t, x, status=e, ties="efron").fit()
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    coef = np.asarray(fit.params, dtype=float)
    se = np.asarray(fit.bse, dtype=float)
    z = norm.ppf(1.0 - alpha / 2.0)
    table = pd.DataFrame(
        {
            "covariate": kept,
            "coef": coef,
            "se": se,
            "hr": np.exp(coef),
            "ci_lower": np.exp(coef - z * se),
            "ci_upper": np.exp(coef + z * se),
            "p_value": np.asarray(fit.pvalues, dtype=float),
        }
    )
    return CoxResult(table, dropped, int(t.size), int(e.sum()), converged)


def clopper_pearson(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper–Pearson) two-sided CI of a proportion; (nan, nan) when n is 0."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError("need 0 <= successes <= n")
    if n == 0:
        return (math.nan, math.nan)
    lower, upper = proportion_confint(successes, n, alpha=alpha, method="beta")
    return (float(lower), float(upper))
