"""report/stats.py against hand computation, published values and a second implementation.

Issue 10's acceptance: Kaplan–Meier medians and CIs, log-rank p, Cox HRs and
Clopper–Pearson intervals agree to 1e-6 with an independent computation on
at least two datasets, one of them ``../shared/data/pharmaverse/adtte_onco.csv``.

The second implementation is plain numpy in this file, written from the
textbook formulas, not from statsmodels' code: the product-limit estimate by
direct multiplication, Greenwood's variance, the log-log band and the median
CI read off the band as R ``quantile.survfit`` does (first time the lower /
upper band reaches 0.5); the Mantel–Haenszel log-rank statistic in its
k-group matrix form; Cox by Newton–Raphson on Efron's partial likelihood.
Clopper–Pearson is checked against SciPy's ``binomtest`` (another library)
and the closed form of the boundary cases.

Datasets: (1) the 6-MP leukaemia remission trial (Freireich et al., Blood
1963; Gehan, Biometrika 1965), typed in from R MASS::gehan, with R survival's
published results at their printed precision as well; (2) adtte_onco (the
pharmaverse ADaM: OS, PFS by arm; few events, so also the reverse
Kaplan–Meier of follow-up); (3) a seeded synthetic cohort with many tied days
(Efron ties matter there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, chi2, norm

from report.stats import (
    clopper_pearson,
    cox_ph,
    kaplan_meier,
    logrank,
    median_follow_up,
    number_at_risk,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pharmaverse"
TOL = 1e-6
Z = norm.ppf(0.975)

# --- dataset 1: 6-MP vs placebo, weeks of remission (MASS::gehan; Gehan 1965) -------------
GEHAN_6MP_TIME = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
GEHAN_6MP_EVENT = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
GEHAN_PBO_TIME = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def gehan() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": GEHAN_6MP_TIME + GEHAN_PBO_TIME,
            "event": GEHAN_6MP_EVENT + [1] * 21,
            "placebo": [0] * 21 + [1] * 21,
        }
    )


def adtte(paramcd: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA / "adtte_onco.csv", keep_default_na=False, na_values=[""])
    frame = frame[frame["PARAMCD"] == paramcd]
    return pd.DataFrame(
        {
            "time": frame["AVAL"].astype(float).to_numpy(),
            "event": (frame["CNSR"].astype(int) == 0).astype(int).to_numpy(),  # ADaM: 0 = event
            "arm": frame["ARM"].to_numpy(),
            "age": frame["AGE"].astype(float).to_numpy(),
            "male": (frame["SEX"] == "M").astype(int).to_numpy(),
            "high_dose": (frame["ARM"] == "Xanomeline High Dose").astype(int).to_numpy(),
        }
    )


def synthetic() -> pd.DataFrame:
    rng = np.random.default_rng(20261129)
    n = 300
    x1 = rng.integers(0, 2, n)
    x2 = rng.integers(0, 2, n)
    x3 = rng.normal(0, 1, n)
    hazard = 0.02 * np.exp(0.7 * x1 - 0.4 * x2 + 0.3 * x3)
    event_time = rng.exponential(1 / hazard)
    censor_time = rng.uniform(10, 150, n)
    time = np.ceil(np.minimum(event_time, censor_time) / 7)  # weeks: many ties
    return pd.DataFrame(
        {
            "time": time,
            "event": (event_time <= censor_time).astype(int),
            "x1": x1,
            "x2": x2,
            "x3": x3,
            "group": np.where(x1 == 1, "a", np.where(x2 == 1, "b", "c")),
        }
    )


# --- the second implementation ------------------------------------------------------------


def km_reference(time: np.ndarray, event: np.ndarray) -> dict:
    """Product-limit, Greenwood, log-log band; median and its CI the way R reads them."""
    time, event = np.asarray(time, float), np.asarray(event, int)
    grid = np.unique(time)
    s, var_sum = 1.0, 0.0
    rows = []
    for t in grid:
        at_risk = int((time >= t).sum())
        deaths = int(((time == t) & (event == 1)).sum())
        if deaths:
            s *= 1.0 - deaths / at_risk
            survivors = at_risk - deaths
            var_sum = var_sum + deaths / (at_risk * survivors) if survivors else np.inf
        if s > 0 and np.isfinite(var_sum) and s < 1:
            half = Z * np.sqrt(var_sum) / abs(np.log(s))
            lower, upper = s ** np.exp(half), s ** np.exp(-half)
        elif s == 1:
            lower = upper = 1.0
        else:
            lower = upper = np.nan
        rows.append((t, s, lower, upper, deaths))
    t_, s_, lo_, hi_, d_ = (np.array(c, float) for c in zip(*rows, strict=True))

    def first_at_or_below_half(curve: np.ndarray) -> float | None:
        hits = np.flatnonzero((d_ > 0) & (curve <= 0.5 + 1e-12))
        if not hits.size:
            return None
        j = hits[0]
        if abs(curve[j] - 0.5) < 1e-9:  # flat at exactly 0.5: midpoint to the next event time
            later = np.flatnonzero((d_ > 0) & (np.arange(d_.size) > j))
            return (t_[j] + t_[later[0]]) / 2 if later.size else None
        return float(t_[j])

    return {
        "times": np.concatenate(([0.0], t_)),
        "survival": np.concatenate(([1.0], s_)),
        "ci_lower": np.concatenate(([1.0], lo_)),
        "ci_upper": np.concatenate(([1.0], hi_)),
        "median": first_at_or_below_half(s_),
        "median_ci": (first_at_or_below_half(lo_), first_at_or_below_half(hi_)),
    }


def logrank_reference(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> tuple:
    """Mantel–Haenszel log-rank: (O - E)' V^-1 (O - E) over the first k - 1 groups."""
    labels = np.unique(group)
    k = labels.size
    o_minus_e = np.zeros(k)
    v = np.zeros((k, k))
    for t in np.unique(time[event == 1]):
        at_risk = np.array([((time >= t) & (group == g)).sum() for g in labels], float)
        deaths = np.array([((time == t) & (event == 1) & (group == g)).sum() for g in labels])
        n, d = at_risk.sum(), deaths.sum()
        o_minus_e += deaths - d * at_risk / n
        if n > 1:
            share = at_risk / n
            v += d * (n - d) / (n - 1) * (np.diag(share) - np.outer(share, share))
    stat = float(o_minus_e[:-1] @ np.linalg.solve(v[:-1, :-1], o_minus_e[:-1]))
    return stat, k - 1, float(chi2.sf(stat, k - 1))


def cox_reference(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> tuple:
    """Newton–Raphson on Efron's log partial likelihood; (coef, se, Wald p)."""
    x = np.asarray(x, float).reshape(len(time), -1)
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        w = np.exp(x @ beta)
        grad = np.zeros_like(beta)
        info = np.zeros((beta.size, beta.size))
        for t in np.unique(time[event == 1]):
            risk, dead = time >= t, (time == t) & (event == 1)
            d = int(dead.sum())
            s0, s1 = w[risk].sum(), w[risk] @ x[risk]
            s2 = (x[risk] * w[risk, None]).T @ x[risk]
            e0, e1 = w[dead].sum(), w[dead] @ x[dead]
            e2 = (x[dead] * w[dead, None]).T @ x[dead]
            grad += x[dead].sum(axis=0)
            for j in range(d):
                c = j / d
                den = s0 - c * e0
                mu = (s1 - c * e1) / den
                grad -= mu
                info += (s2 - c * e2) / den - np.outer(mu, mu)
        step = np.linalg.solve(info, grad)
        beta = beta + step
        if np.abs(step).max() < 1e-12:
            break
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    return beta, se, 2 * norm.sf(np.abs(beta / se))


# --- checks -----------------------------------------------------------------------------------


def assert_km_matches(time: np.ndarray, event: np.ndarray) -> float:
    """Curve, band, median and median CI agree; returns the largest absolute difference."""
    ours = kaplan_meier(time, event)
    ref = km_reference(time, event)
    np.testing.assert_array_equal(ours.times, ref["times"])
    worst = 0.0
    for name in ("survival", "ci_lower", "ci_upper"):
        a, b = getattr(ours, name), ref[name]
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        diff = np.nanmax(np.abs(a - b)) if np.isfinite(a).any() else 0.0
        assert diff <= TOL, name
        worst = max(worst, float(diff))
    assert ours.median == ref["median"]
    assert ours.median_ci == ref["median_ci"]
    return worst


def test_hand_computed_kaplan_meier() -> None:
    """t = 1, 2, 2+, 3, 5+: S = 4/5, then 4/5 x 3/4, then x 1/2; Greenwood by hand."""
    km = kaplan_meier([1, 2, 2, 3, 5], [1, 1, 0, 1, 0])
    np.testing.assert_allclose(km.times, [0, 1, 2, 3, 5])
    np.testing.assert_allclose(km.survival, [1, 0.8, 0.6, 0.3, 0.3], atol=1e-12)
    # Greenwood at t = 3: S^2 (1/(5*4) + 1/(4*3) + 1/(2*1)) = 0.09 * 0.63333...
    var = 0.09 * (1 / 20 + 1 / 12 + 1 / 2)
    half = Z * np.sqrt(var) / (0.3 * abs(np.log(0.3)))
    assert km.ci_lower[3] == pytest.approx(0.3 ** np.exp(half), abs=1e-12)
    assert km.ci_upper[3] == pytest.approx(0.3 ** np.exp(-half), abs=1e-12)
    assert km.median == 3.0
    assert (km.n, km.events) == (5, 3)
    np.testing.assert_array_equal(km.censor_times, [2, 5])
    np.testing.assert_array_equal(number_at_risk([1, 2, 2, 3, 5], [0, 2, 4, 6]), [5, 4, 1, 0])


def test_median_on_a_flat_half_is_the_midpoint() -> None:
    """No censoring, n = 4: S = 0.5 from t = 2 to t = 3: median (2 + 3) / 2 (R and SAS)."""
    assert kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1]).median == 2.5


def test_hand_computed_logrank() -> None:
    """A: 1, 3 (deaths); B: 2 (death), 4+. O - E = 2/3, V = 13/18: chi-square 8/13."""
    result = logrank([1, 3, 2, 4], [1, 1, 1, 0], ["A", "A", "B", "B"])
    assert result.statistic == pytest.approx(8 / 13, abs=1e-12)
    assert result.df == 1
    assert result.p_value == pytest.approx(chi2.sf(8 / 13, 1), abs=1e-12)


def test_hand_computed_clopper_pearson() -> None:
    """Closed forms: 0/n -> (0, 1 - (a/2)^(1/n)); n/n -> ((a/2)^(1/n), 1)."""
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 1 - 0.025 ** (1 / 10)), abs=1e-12)
    assert clopper_pearson(10, 10) == pytest.approx((0.025 ** (1 / 10), 1.0), abs=1e-12)
    # R binom.test(1, 10)$conf.int: 0.002528579 0.445016118
    assert clopper_pearson(1, 10) == pytest.approx((0.002528579, 0.445016118), abs=1e-9)


def test_gehan_against_r_published_values() -> None:
    """R survival on MASS::gehan: survfit medians 23 and 8; survdiff chisq 16.8 on 1 df,
    p = 4.17e-05; coxph (Efron) coef 1.572, se 0.412, HR 4.817 (2.147, 10.81)."""
    g = gehan()
    six_mp, pbo = g[g.placebo == 0], g[g.placebo == 1]
    assert kaplan_meier(six_mp.time, six_mp.event).median == 23
    assert kaplan_meier(pbo.time, pbo.event).median == 8
    lr = logrank(g.time, g.event, g.placebo)
    assert round(lr.statistic, 1) == 16.8 and round(lr.p_value, 7) == 4.17e-05
    row = cox_ph(g, "time", "event", ["placebo"]).table.iloc[0]
    assert (round(row.coef, 3), round(row.se, 3), round(row.hr, 3)) == (1.572, 0.412, 4.817)
    assert (round(row.ci_lower, 3), round(row.ci_upper, 2)) == (2.147, 10.81)


def test_gehan_against_second_implementation() -> None:
    g = gehan()
    for _, part in g.groupby("placebo"):
        assert_km_matches(part.time.to_numpy(), part.event.to_numpy())
    stat, df, p = logrank_reference(g.time.to_numpy(), g.event.to_numpy(), g.placebo.to_numpy())
    lr = logrank(g.time, g.event, g.placebo)
    assert abs(lr.statistic - stat) <= TOL and abs(lr.p_value - p) <= TOL and lr.df == df
    coef, se, p_cox = cox_reference(g.time.to_numpy(), g.event.to_numpy(), g.placebo.to_numpy())
    row = cox_ph(g, "time", "event", ["placebo"]).table.iloc[0]
    assert abs(row.hr - np.exp(coef[0])) <= TOL
    assert abs(row.ci_lower - np.exp(coef[0] - Z * se[0])) <= TOL
    assert abs(row.ci_upper - np.exp(coef[0] + Z * se[0])) <= TOL
    assert abs(row.p_value - p_cox[0]) <= TOL


needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared pharmaverse data not found")


@needs_data
@pytest.mark.parametrize("paramcd", ["OS", "PFS"])
def test_adtte_kaplan_meier_and_follow_up(paramcd: str) -> None:
    frame = adtte(paramcd)
    for _, arm in frame.groupby("arm"):
        assert_km_matches(arm.time.to_numpy(), arm.event.to_numpy())
        # reverse Kaplan–Meier: censoring is the event (many of them: finite median and CI)
        reverse = km_reference(arm.time.to_numpy(), 1 - arm.event.to_numpy())
        median, ci = median_follow_up(arm.time, arm.event)
        assert median is not None and median == reverse["median"]
        assert ci == reverse["median_ci"]
    assert_km_matches(frame.time.to_numpy(), 1 - frame.event.to_numpy())


@needs_data
@pytest.mark.parametrize("paramcd", ["OS", "PFS"])
def test_adtte_logrank_three_arms(paramcd: str) -> None:
    frame = adtte(paramcd)
    stat, df, p = logrank_reference(frame.time.to_numpy(), frame.event.to_numpy(), frame.arm)
    lr = logrank(frame.time, frame.event, frame.arm)
    assert lr.df == df == 2
    assert abs(lr.statistic - stat) <= TOL and abs(lr.p_value - p) <= TOL


@needs_data
def test_adtte_cox_pfs() -> None:
    frame = adtte("PFS")
    covariates = ["age", "male", "high_dose"]
    coef, se, p = cox_reference(
        frame.time.to_numpy(), frame.event.to_numpy(), frame[covariates].to_numpy()
    )
    result = cox_ph(frame, "time", "event", covariates, min_events=1)
    assert result.converged and result.dropped == [] and result.events == 6
    np.testing.assert_allclose(result.table.hr, np.exp(coef), rtol=0, atol=TOL)
    np.testing.assert_allclose(result.table.ci_lower, np.exp(coef - Z * se), rtol=0, atol=TOL)
    np.testing.assert_allclose(result.table.ci_upper, np.exp(coef + Z * se), rtol=0, atol=TOL)
    np.testing.assert_allclose(result.table.p_value, p, rtol=0, atol=TOL)


@needs_data
def test_adtte_clopper_pearson_of_pfs_events_per_arm() -> None:
    frame = adtte("PFS")
    for _, arm in frame.groupby("arm"):
        k, n = int(arm.event.sum()), len(arm)
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), abs=TOL)


def test_synthetic_with_ties_against_second_implementation() -> None:
    frame = synthetic()
    for _, part in frame.groupby("group"):
        assert_km_matches(part.time.to_numpy(), part.event.to_numpy())
    stat, _, p = logrank_reference(frame.time.to_numpy(), frame.event.to_numpy(), frame.group)
    lr = logrank(frame.time, frame.event, frame.group)
    assert abs(lr.statistic - stat) <= TOL and abs(lr.p_value - p) <= TOL
    covariates = ["x1", "x2", "x3"]
    coef, se, p = cox_reference(
        frame.time.to_numpy(), frame.event.to_numpy(), frame[covariates].to_numpy()
    )
    table = cox_ph(frame, "time", "event", covariates).table
    np.testing.assert_allclose(table.hr, np.exp(coef), rtol=0, atol=TOL)
    np.testing.assert_allclose(table.ci_lower, np.exp(coef - Z * se), rtol=0, atol=TOL)
    np.testing.assert_allclose(table.ci_upper, np.exp(coef + Z * se), rtol=0, atol=TOL)
    np.testing.assert_allclose(table.p_value, p, rtol=0, atol=TOL)
    for k, n in [(0, 7), (3, 7), (40, 130), (130, 130)]:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), abs=TOL)


def test_cox_drops_covariates_without_variation_or_with_too_few_events() -> None:
    g = gehan()
    g = g.assign(constant=1, rare=0, treated=1 - g.placebo)
    g.loc[0, "rare"] = 1  # one 6-MP patient, one event
    covariates = ["placebo", "constant", "rare", "treated"]
    result = cox_ph(g, "time", "event", covariates, min_events=5)
    assert list(result.table.covariate) == ["placebo"]
    reasons = dict(result.dropped)
    assert reasons["constant"] == "no variation"
    assert reasons["rare"].startswith("too few events (1 with")
    assert reasons["treated"].startswith("collinear (a combination of placebo")


def test_bad_input_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="negative"):
        kaplan_meier([1, -2], [1, 1])
    with pytest.raises(ValueError, match="true/false"):
        kaplan_meier([1, 2], [1, 2])
    with pytest.raises(ValueError, match="missing"):
        logrank([1, 2], [1, 1], ["a", None])
    with pytest.raises(ValueError, match="missing"):
        kaplan_meier(pd.Series([1, 2]), pd.Series([True, None], dtype="boolean"))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.booleans(), st.sampled_from("ab")),
        min_size=1,
        max_size=40,
    )
)
def test_invariants_of_curves_and_tests(rows: list[tuple[int, bool, str]]) -> None:
    """S is a non-increasing step in [0, 1] inside its band; the median inside its CI."""
    time = np.array([r[0] for r in rows], float)
    event = np.array([r[1] for r in rows])
    km = kaplan_meier(time, event)
    assert np.all(np.diff(km.survival) <= 1e-15)
    assert np.all((km.survival >= 0) & (km.survival <= 1))
    defined = ~np.isnan(km.ci_lower)
    assert np.all(km.ci_lower[defined] <= km.survival[defined] + 1e-12)
    assert np.all(km.survival[defined] <= km.ci_upper[defined] + 1e-12)
    lower, upper = km.median_ci
    if km.median is not None and lower is not None:
        assert lower <= km.median
    if km.median is not None and upper is not None:
        assert km.median <= upper
    at_risk = number_at_risk(time, km.times)
    assert at_risk[0] == len(rows) and np.all(np.diff(at_risk) <= 0)
    result = logrank(time, event, [r[2] for r in rows])
    assert np.isnan(result.p_value) or 0.0 <= result.p_value <= 1.0
