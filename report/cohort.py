"""The cohort report: one HTML page of tables and inline-SVG figures.

Sections: cohort overview; per criteria (RECIST 1.1, mRECIST) and scope (course,
sessions 1 to ``report.max_session_number``) the waterfall, spider plot, response
rates and PFS by modality; per criteria the swimmer plot and OS by landmark
response; then OS by modality, primary site and NLR, the Cox model and the NLR
trajectories. Statistics come from ``report.stats``, data from ``report.data``.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd

from config import Config
from report import data, stats
from report.drawing import Drawing
from report.html import esc, figure, median_text, p_text, page, table

#: The criteria the report shows (warehouse vocabulary), each with the prefix of its
#: thresholds in config/response.toml and its landmark-responder column in `survival`.
CRITERIA = {
    "RECIST1.1": ("recist", "responder_at_landmark_recist"),
    "mRECIST": ("mrecist", "responder_at_landmark_mrecist"),
}
NLR_LABELS = {
    "nlr_pre": "before",
    "nlr_1m": "1 month",
    "nlr_3m": "3 months",
    "nlr_6m": "6 months",
}


def flag_labels(cfg: Config) -> dict[str, str]:
    """Each negative prognostic flag's label (P1-P7), with the run's cut-off and its unit.

    The column names keep the default cut-offs (flag_bilirubin_ge_2: the warehouse
    contract); a run under another ``labs.flag_*`` must not print the default one.
    """
    labs = cfg.section("labs")

    def cut(name: str) -> str:
        return f"{labs[name]:g} {cfg.unit(f'labs.{name}')}"

    return {
        "flag_bilirubin_ge_2": f"bilirubin ≥ {cut('flag_bilirubin_min_mg_dl')}",
        "flag_albumin_le_3_5": f"albumin ≤ {cut('flag_albumin_max_g_dl')}",
        "flag_burden_ge_70": f"tumour burden ≥ {cut('flag_burden_min_pct')}",
        "flag_ascites": "ascites",
        "flag_extrahepatic": "extrahepatic disease",
        "flag_systemic_ge_3": f"≥ {cut('flag_systemic_min_lines')}",
        "flag_nlr_elevated": "NLR elevated",
    }


def thresholds_pct(cfg: Config, criteria: str) -> tuple[float, float]:
    """The configured PR and PD thresholds of a criteria as % change (-30, +20 for RECIST).

    PR is a fraction of the baseline sum, PD a fraction of the nadir sum; on a
    waterfall both are drawn against the baseline, as is customary.
    """
    prefix = CRITERIA[criteria][0]
    resp = cfg.section("response")
    pr = resp[f"{prefix}_pr_max_fraction_of_baseline"]
    pd_key = next(
        k for k in resp if k.startswith(f"{prefix}_pd_") and k.endswith("fraction_of_nadir")
    )
    return round((pr - 1) * 100, 4), round((resp[pd_key] - 1) * 100, 4)


class CohortReport:
    """Builds the sections of the report from one connection to a warehouse."""

    def __init__(self, con: duckdb.DuckDBPyConnection, cfg: Config, draw: Drawing) -> None:
        self.con = con
        self.cfg = cfg
        self.draw = draw  # charts become placeholders that draw.fill replaces
        self.r = cfg.section("report")
        self.flag_labels = flag_labels(cfg)
        self.nav: list[tuple[str, str]] = []

    # --- helpers --------------------------------------------------------------------------

    def _section(self, sec_id: str, title: str, body: str) -> str:
        self.nav.append((sec_id, title))
        return f'<section id="{esc(sec_id)}">\n<h2>{esc(title)}</h2>\n{body}</section>\n'

    def km(self, fig_id: str, title: str, sd: data.SurvivalData, xlabel: str) -> str:
        """KM curves per group with medians, number at risk and the log-rank p."""
        if sd.durations.size == 0:
            return (
                f'<p class="note">{esc(title)}: no patient to show. Left out: '
                f"{esc(sd.left_out_text())}.</p>"
            )
        groups = sorted({str(g) for g in sd.groups})
        step = self.r["risk_table_step_days"]
        at_times = np.arange(0, float(sd.durations.max()) + 1, step)
        curves, at_risk, rows = [], [], []
        for g in groups:
            mask = sd.groups == g
            km = stats.kaplan_meier(sd.durations[mask], sd.events[mask])
            med = median_text(km.median, km.median_ci)
            curves.append((f"{g} (n={km.n:,}, {km.events:,} events): median {med}", km))
            at_risk.append(np.asarray(stats.number_at_risk(sd.durations[mask], at_times)))
            rows.append((g, int(km.n), int(km.events), med))
        note = ""
        if len(groups) > 1:
            lr = stats.logrank(sd.durations, sd.events, sd.groups.astype(str))
            note = (
                f"Log-rank test: χ² = {lr.statistic:.2f}, df = {lr.df}, {p_text(lr.p_value)}."
                if np.isfinite(lr.p_value)
                else "Log-rank test: not computable (too few events in a group)."
            )
        svg = self.draw.chart("kaplan_meier", curves, at_times, at_risk, xlabel, salt=fig_id)
        tab = table(("group", "patients", "events", "median (95 % CI)"), rows)
        return figure(fig_id, title, svg, sd.used, sd.left_out_text(), note) + tab

    # --- sections -------------------------------------------------------------------------

    def overview(self) -> str:
        ov = data.overview(self.con, self.r["max_session_number"])
        median, (lo, hi) = stats.median_follow_up(ov["os_days"], ov["os_event"])
        sessions = ov["sessions"]
        parts = [
            f"<p>{ov['treated']:,} patients with at least one session "
            f"({ov['patients'] - ov['treated']:,} of {ov['patients']:,} registered patients "
            "have none and are in no figure). Median follow-up (reverse Kaplan–Meier, "
            f"first session to last contact, deaths censored): "
            f"{esc(median_text(median, (lo, hi)))}.</p>",
            table(
                ("modality", "sessions", "patients", "first sessions"),
                sessions[["modality", "sessions", "patients", "first_sessions"]].itertuples(
                    index=False
                ),
                "Sessions by modality (sessions table)",
            ),
        ]
        prev = ov["prevalence"]
        max_n = self.r["max_session_number"]
        numbers = sorted(set(prev["session_number"]))
        header = ["flag going into the session"] + [
            f"session {n}" if n <= max_n else f"sessions ≥ {n}" for n in numbers
        ]
        rows = []
        for flag, label in self.flag_labels.items():
            row: list[object] = [label]
            for n in numbers:
                hit = prev[(prev["flag"] == flag) & (prev["session_number"] == n)]
                if hit.empty or int(hit["n_known"].iloc[0]) == 0:
                    row.append(None)
                else:
                    t, k = int(hit["n_true"].iloc[0]), int(hit["n_known"].iloc[0])
                    row.append(f"{t:,}/{k:,} ({100 * t / k:.0f} %)")
            rows.append(row)
        parts.append(
            table(
                header,
                rows,
                "Prevalence of each negative prognostic flag going into each session "
                "(session_flags: flagged / sessions with the value known)",
            )
        )
        parts.append(
            f'<p class="muted">Rows used: session_flags of all {ov["flag_sessions"]:,} '
            "sessions. A session whose value has no measurement in its window has the flag "
            "unknown and is not in that cell's denominator.</p>"
        )
        return self._section("overview", "Cohort overview", "\n".join(parts))

    def criteria_scope(self, criteria: str, scope: data.Scope) -> str:
        pr, pdv = thresholds_pct(self.cfg, criteria)
        slug = f"{criteria.replace('.', '')}-{scope.slug}".lower()
        parts = []
        wf = data.waterfall(self.con, criteria, scope, self.r["waterfall_max_bars"])
        if len(wf.frame):
            parts.append(
                figure(
                    f"waterfall-{slug}",
                    f"Waterfall: best change of the target sum, {criteria}, {scope.label}",
                    self.draw.chart("waterfall", wf.frame, pr, pdv, salt=f"waterfall-{slug}"),
                    wf.used,
                    wf.left_out_text(),
                    f"Bars coloured by the best overall response (bor); dashed lines at the "
                    f"configured PR ({pr:+g} %) and PD ({pdv:+g} % over the nadir, drawn from "
                    "baseline) thresholds (config/response.toml).",
                )
            )
        sp = data.spider(self.con, criteria, scope, self.r["per_patient_max_patients"])
        if len(sp.frame):
            parts.append(
                figure(
                    f"spider-{slug}",
                    f"Spider plot: change of the target sum over time, {criteria}, {scope.label}",
                    self.draw.chart(
                        "spider",
                        sp.frame,
                        sp.extra["sessions"],
                        pr,
                        pdv,
                        salt=f"spider-{slug}",
                    ),
                    sp.used,
                    sp.left_out_text(),
                    "Triangles: sessions (colour by modality). Labels: report numbers.",
                )
            )
        parts.append(self.rates(criteria, scope, slug))
        parts.append(
            self.km(
                f"pfs-{slug}",
                f"PFS by modality, {criteria}, {scope.label}",
                data.pfs_by_modality(self.con, criteria, scope),
                "days from the scope's start (best_responses.pfs_days)",
            )
        )
        return self._section(slug, f"{criteria} — {scope.label}", "\n".join(parts))

    def rates(self, criteria: str, scope: data.Scope, slug: str) -> str:
        rr = data.response_rates(self.con, criteria, scope)
        frame = rr.frame.copy()
        frame = frame[frame["n"] > 0].reset_index(drop=True)
        if frame.empty:
            return '<p class="note">Response rates: no patient with a best response.</p>'
        rows = []
        for measure in ("orr", "dcr"):
            for kind in ("unconfirmed", "confirmed"):
                col = f"{measure}_{kind}"
                cis = [
                    stats.clopper_pearson(int(k), int(n))
                    for k, n in zip(frame[col], frame["n"], strict=True)
                ]
                frame[f"{col}_pct"] = 100 * frame[col] / frame["n"]
                frame[f"{col}_lo"] = [100 * c[0] for c in cis]
                frame[f"{col}_hi"] = [100 * c[1] for c in cis]
        for r in frame.itertuples():
            rows.append(
                (
                    r.modality,
                    int(r.n),
                    *(
                        f"{getattr(r, c)}/{r.n} = {getattr(r, c + '_pct'):.1f} % "
                        f"({getattr(r, c + '_lo'):.1f}–{getattr(r, c + '_hi'):.1f})"
                        for c in (
                            "orr_unconfirmed",
                            "orr_confirmed",
                            "dcr_unconfirmed",
                            "dcr_confirmed",
                        )
                    ),
                )
            )
        svg = self.draw.chart("response_rates", frame, salt=f"rates-{slug}")
        return figure(
            f"rates-{slug}",
            f"Response rates by modality, {criteria}, {scope.label}",
            svg,
            rr.used,
            rr.left_out_text(),
            "ORR = CR + PR; DCR = CR + PR + SD (+ NON-CR/NON-PD); 95 % CI Clopper–Pearson. "
            "Hollow: unconfirmed best response, filled: confirmed.",
        ) + table(
            (
                "modality",
                "patients",
                "ORR unconfirmed",
                "ORR confirmed",
                "DCR unconfirmed",
                "DCR confirmed",
            ),
            rows,
        )

    def per_criteria(self, criteria: str) -> str:
        slug = criteria.replace(".", "").lower()
        sw = data.swimmer(self.con, criteria, self.r["per_patient_max_patients"])
        parts = []
        if len(sw.frame):
            parts.append(
                figure(
                    f"swimmer-{slug}",
                    f"Swimmer plot, {criteria}",
                    self.draw.chart(
                        "swimmer",
                        sw.frame,
                        sw.extra["sessions"],
                        sw.extra["assessments"],
                        salt=f"swimmer-{slug}",
                    ),
                    sw.used,
                    sw.left_out_text(),
                    "Lane: first session to death or last contact; markers: sessions by "
                    "modality; dots: assessments by overall response; red bar: progression; "
                    "cross: death; arrow: alive at last contact (follow-up ongoing).",
                )
            )
        landmark = self.cfg.value("report.landmark_days")
        column = CRITERIA[criteria][1]
        parts.append(
            self.km(
                f"os-landmark-{slug}",
                f"OS by response at the day-{landmark} landmark, {criteria}",
                data.os_from_landmark(self.con, column, ("responder", "non-responder"), landmark),
                f"days from the landmark (day {landmark} after the first session)",
            )
        )
        return self._section(
            f"patients-{slug}", f"{criteria} — course and landmark", "\n".join(parts)
        )

    def overall_survival(self) -> str:
        landmark = self.cfg.value("report.landmark_days")
        parts = [
            self.km(
                "os-modality",
                "OS by modality of the first session",
                data.os_by(self.con, "first_modality", ("", "")),
                "days from the first session",
            ),
            self.km(
                "os-pancreatic",
                "OS: pancreatic vs other primaries",
                data.os_by(self.con, "pancreatic_primary", ("pancreatic", "other")),
                "days from the first session",
            ),
            self.km(
                "os-nlr-pre",
                "OS by elevated NLR before the first session",
                data.os_by(self.con, "nlr_elevated_pre_first", ("NLR elevated", "NLR normal")),
                "days from the first session",
            ),
            self.km(
                "os-nlr-6m",
                "OS by NLR still above the pre-treatment value at 6 months (first session)",
                data.os_from_landmark(
                    self.con,
                    "nlr_6m_above_pre_first",
                    ("NLR above pre at 6 months", "not above"),
                    landmark,
                ),
                f"days from the landmark (day {landmark} after the first session)",
            ),
        ]
        return self._section("survival", "Overall survival", "\n".join(parts))

    def cox(self) -> str:
        cf = data.cox_frame(self.con)
        result = stats.cox_ph(
            cf.frame,
            "os_days",
            "os_event",
            list(data.PROGNOSTIC_FLAGS),
            min_events=self.r["cox_min_events"],
        )
        tab = pd.DataFrame(result.table)
        dropped = list(result.dropped)
        dropped_text = (
            "; ".join(f"{self.flag_labels.get(c, c)}: {reason}" for c, reason in dropped)
            if dropped
            else "none"
        )
        parts = []
        if len(tab):
            tab = tab.assign(covariate=[self.flag_labels.get(c, c) for c in tab["covariate"]])
            parts.append(
                figure(
                    "cox-forest",
                    "Cox proportional hazards for OS: negative prognostic flags at the first "
                    "session",
                    self.draw.chart("forest", tab, salt="cox-forest"),
                    cf.used,
                    cf.left_out_text(),
                    f"Covariates dropped (too few events, report.cox_min_events = "
                    f"{self.r['cox_min_events']}): {dropped_text}.",
                )
            )
            parts.append(
                table(
                    ("covariate", "HR", "95 % CI", "p"),
                    [
                        (
                            r.covariate,
                            f"{r.hr:.2f}",
                            f"{r.ci_lower:.2f}–{r.ci_upper:.2f}",
                            p_text(r.p_value),
                        )
                        for r in tab.itertuples()
                    ],
                )
            )
        else:
            parts.append(
                f'<p class="note">No covariate could be estimated. Dropped: {esc(dropped_text)}. '
                f"Left out: {esc(cf.left_out_text())}.</p>"
            )
        return self._section("cox", "Prognostic flags: Cox model for OS", "\n".join(parts))

    def nlr(self) -> str:
        nl = data.nlr_trajectories(self.con)
        if nl.frame.empty:
            body = '<p class="note">No NLR value in any window.</p>'
        else:
            body = figure(
                "nlr-trajectories",
                "NLR before and 1, 3, 6 months after each session, by modality",
                self.draw.chart("nlr_trajectories", nl.frame, NLR_LABELS, salt="nlr-trajectories"),
                nl.used,
                nl.left_out_text(),
                "Windows: config/labs.toml (nlr_*_from_days/to_days).",
            ) + table(
                ("modality", "time point", "sessions", "median", "IQR"),
                [
                    (
                        r.modality,
                        NLR_LABELS[r.timepoint],
                        int(r.n),
                        round(r.median, 2),
                        f"{r.q1:.2f}–{r.q3:.2f}",
                    )
                    for r in nl.frame.itertuples()
                ],
            )
        return self._section("nlr", "NLR trajectories", body)

    def render(self, run_id: str | None) -> str:
        """The page, each chart a placeholder until ``self.draw.fill`` puts its SVG in."""
        data.number_patients(self.con)
        try:
            criteria = data.criteria_present(self.con, tuple(CRITERIA))
            numbers = data.session_numbers(self.con, self.r["max_session_number"])
            sections: list[Callable[[], str]] = [self.overview]
            for c in criteria:
                sections.append(lambda c=c: self.per_criteria(c))
                for scope in [data.Scope(None), *(data.Scope(n) for n in numbers)]:
                    sections.append(lambda c=c, s=scope: self.criteria_scope(c, s))
            sections += [self.overall_survival, self.cox, self.nlr]
            body = "\n".join(build() for build in sections)
        finally:
            data.drop_patient_numbers(self.con)
        nav = "".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t in self.nav)
        run = f", run {esc(run_id)}" if run_id else ""
        intro = (
            f"<h1>nelmtrack outcome report{run}</h1>\n"
            '<p class="muted">Patients are numbered P1, P2, … for this report only (order of a '
            "hash of the pseudonymous key: not an identifier, not a treatment order). Times are "
            "days; no date appears. Every number can be recomputed from the public tables "
            "named under each figure.</p>\n"
            f"<nav>{nav}</nav>\n"
        )
        return page("nelmtrack outcome report", intro + body)
