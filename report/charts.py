"""The report's charts: Matplotlib figures rendered to inline SVG.

Static SVG needs no script, so the report opens from a file share with no
network and nothing to vendor; text stays text (``svg.fonttype = none``), so
the HTML can be searched (and checked for identifiers). Figures are built with
``matplotlib.figure.Figure`` directly, never pyplot: no global state, no GUI
backend. Each SVG gets its own id salt, so that several inline SVGs in one page
never share an element id.
"""

from __future__ import annotations

import io
import re

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axis import Axis, YAxis
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.textpath import text_to_path
from matplotlib.ticker import NullFormatter

RESPONSE_COLOURS = {
    "CR": "#1a7f37",
    "PR": "#6cc070",
    "SD": "#f2c14e",
    "NON-CR/NON-PD": "#c9c9c9",
    "PD": "#d1495b",
    "NE": "#8c8c8c",
}
MODALITY_STYLE = {  # marker and colour per modality (warehouse vocabulary)
    "TAE": ("o", "#4c72b0"),
    "cTACE": ("s", "#dd8452"),
    "DEB-TACE": ("D", "#55a868"),
    "TARE": ("^", "#8172b3"),
}
GROUP_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#c44e52", "#937860")
_HEADER = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)


def to_svg(fig: Figure, salt: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML header or metadata, unique ids)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    # The XML header and the RDF metadata block (namespace addresses) are not needed inline.
    return _METADATA.sub("", _HEADER.sub("", buf.getvalue(), count=1), count=1)


def _figure(width: float = 7.5, height: float = 4.0) -> Figure:
    """A figure without a layout engine: each chart sets its margins with ``_fit``.

    Constrained layout measured every figure's text with an extra draw before the real
    one (about half of the report's time); the margins here come from the same labels,
    measured with the font but never drawn.
    """
    return Figure(figsize=(width, height))


# --- margins ------------------------------------------------------------------------------
# Lengths in inches. Matplotlib's defaults: 10 pt text, 3.5 pt ticks with a 3.5 pt pad,
# axis labels 4 pt from the tick labels, titles 6 pt above the axes; a line of text is
# 1.2 times its font size.

_POINT = 1 / 72
_PAD = 0.1  # free edge around the figure
_TICK = 7 * _POINT  # tick length and the pad between a tick and its label
_LINE = 1.2 * _POINT  # height of a line of text per point of font size


#: A legend's width beyond its longest label and the height of one of its rows, per point
#: of its font size (Matplotlib's handle length 2, handle pad 0.8, border pads 0.4 and 0.5
#: em; a row: a line of text and 0.5 em spacing).
_LEGEND_FRAME = (2.0 + 0.8 + 2 * 0.4 + 0.5) * _POINT
_LEGEND_ROW = (1.2 + 0.5) * _POINT


#: Text drawn at a small size (hinted to whole pixels in a PNG, or in a browser's font
#: for the SVG) can be up to about a tenth wider than its outline.
_TEXT_SLACK = 1.12


def _text_width(text: str, size: float) -> float:
    """Width (inches) of one line of ``text`` in the default font at ``size`` points."""
    prop = FontProperties(size=size)
    width, _, _ = text_to_path.get_text_width_height_descent(text, prop, False)
    return width * _TEXT_SLACK * _POINT


def _label_space(axis: Axis) -> float:
    """Room (inches) an axis needs outside its axes: tick labels, ticks and the axis label.

    Tick labels are those the axis will draw (its locator and formatter, or the labels
    set), measured with the font; a y axis's width, an x axis's height.
    """
    labels = [t for t in axis.get_majorticklabels() if t.get_visible() and t.get_text()]
    # Ticks hidden with ``length=0`` keep the pad between the axes and their labels.
    space = _TICK if axis.get_tick_params().get("length", 1) else _TICK / 2
    if labels:
        if isinstance(axis, YAxis):
            space += max(_text_width(t.get_text(), t.get_fontsize()) for t in labels)
        else:
            space += max(t.get_fontsize() for t in labels) * _LINE
    label = axis.get_label()
    if label.get_visible() and label.get_text():
        lines = label.get_text().count("\n") + 1
        space += axis.labelpad * _POINT + lines * label.get_fontsize() * _LINE
    return space


def _title_space(size: float | None = None) -> float:
    """Room (inches) above an axes for a title of ``size`` points (none: half a tick label)."""
    return 5 * _POINT if size is None else 6 * _POINT + size * _LINE


def _fit(
    fig: Figure,
    left: float,
    bottom: float,
    right: float = 0.3,
    top: float = 0.0,
    wspace: float = 0.0,
    hspace: float = 0.0,
    rows: int = 1,
    cols: int = 1,
) -> None:
    """Place the axes grid with margins and gaps given in inches (plus ``_PAD`` outside).

    ``right`` leaves room for the last x tick label, which sticks out of the axes.
    """
    width, height = fig.get_size_inches()
    left, right, bottom, top = left + _PAD, right + _PAD, bottom + _PAD, top + _PAD
    cell_w = (width - left - right - (cols - 1) * wspace) / cols
    cell_h = (height - top - bottom - (rows - 1) * hspace) / rows
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=wspace / cell_w,
        hspace=hspace / cell_h,
    )


def modality_style(modality: str) -> tuple[str, str]:
    return MODALITY_STYLE.get(modality, ("o", "#333333"))


# --- waterfall ----------------------------------------------------------------------------


def waterfall(bars: pd.DataFrame, pr_pct: float, pd_pct: float, salt: str) -> str:
    """Bars of best % change, coloured by best response; dashed PR and PD threshold lines."""
    fig = _figure()
    ax = fig.subplots()
    colours = [RESPONSE_COLOURS.get(b, "#8c8c8c") for b in bars["bor"]]
    # One collection of rectangles, not a patch per bar: the same picture, drawn at once.
    x = np.arange(len(bars), dtype=float)
    height = bars["pct_change"].to_numpy(dtype=float)
    left, right = x - 0.45, x + 0.45
    verts = np.stack(
        [
            np.column_stack([left, np.zeros_like(x)]),
            np.column_stack([left, height]),
            np.column_stack([right, height]),
            np.column_stack([right, np.zeros_like(x)]),
        ],
        axis=1,
    )
    ax.add_collection(PolyCollection(verts, facecolors=colours, linewidths=0))
    ax.set_xlim(-1, len(bars))
    low, high = float(np.nanmin(height, initial=0.0)), float(np.nanmax(height, initial=0.0))
    pad = 0.05 * max(high - low, 1.0)
    ax.set_ylim(min(low, pr_pct) - pad, max(high, pd_pct) + pad)
    ax.axhline(pr_pct, ls="--", color="#1a7f37", lw=1)
    ax.axhline(pd_pct, ls="--", color="#d1495b", lw=1)
    ax.axhline(0, color="#333333", lw=0.6)
    ax.set_xticks([])
    ax.set_xlabel("patients (sorted by best change)")
    ax.set_ylabel("best change of the target sum from baseline (%)")
    present = [r for r in RESPONSE_COLOURS if r in set(bars["bor"])]
    handles = [Line2D([], [], lw=6, color=RESPONSE_COLOURS[r], label=r) for r in present]
    handles += [
        Line2D([], [], ls="--", color="#1a7f37", label=f"PR threshold {pr_pct:+g} %"),
        Line2D([], [], ls="--", color="#d1495b", label=f"PD threshold {pd_pct:+g} %"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="upper right", ncols=2)
    _fit(fig, left=_label_space(ax.yaxis), bottom=_label_space(ax.xaxis), top=_title_space())
    return to_svg(fig, salt)


# --- spider -------------------------------------------------------------------------------


def spider(
    points: pd.DataFrame, sessions: pd.DataFrame, pr_pct: float, pd_pct: float, salt: str
) -> str:
    """One line per patient; session days marked on the line (triangle, modality colour)."""
    fig = _figure()
    ax = fig.subplots()
    marks = []
    for i, (patient, rows) in enumerate(points.groupby("patient_no", sort=True)):
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        days = np.concatenate([[0.0], rows["day"].to_numpy(dtype=float)])
        pct = np.concatenate([[0.0], rows["pct"].to_numpy(dtype=float)])
        ax.plot(days, pct, color=colour, lw=1, marker=".", ms=3, alpha=0.8)
        ax.annotate(f"P{patient}", (days[-1], pct[-1]), fontsize=6, color=colour)
        mine = sessions[sessions["patient_no"] == patient]
        marks.append(mine.assign(y=np.interp(mine["day"].to_numpy(dtype=float), days, pct)))
    if marks:
        placed = pd.concat(marks)
        for modality, rows in placed.groupby("modality"):
            ax.scatter(
                rows["day"],
                rows["y"],
                marker="v",
                s=22,
                color=modality_style(modality)[1],
                zorder=3,
            )
    ax.axhline(pr_pct, ls="--", color="#1a7f37", lw=1)
    ax.axhline(pd_pct, ls="--", color="#d1495b", lw=1)
    ax.axhline(0, color="#333333", lw=0.6)
    ax.set_xlabel("days from baseline study")
    ax.set_ylabel("change of the target sum from baseline (%)")
    handles = [
        Line2D([], [], marker="v", ls="none", color=modality_style(m)[1], label=f"session: {m}")
        for m in sorted(set(sessions["modality"]))
    ]
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="upper right")
    _fit(fig, left=_label_space(ax.yaxis), bottom=_label_space(ax.xaxis), top=_title_space())
    return to_svg(fig, salt)


# --- swimmer ------------------------------------------------------------------------------


def swimmer(
    lanes: pd.DataFrame, sessions: pd.DataFrame, assessments: pd.DataFrame, salt: str
) -> str:
    """A lane per patient from day 0 (first session) to death or last contact.

    Sessions: marker by modality, black edge; assessments: dots coloured by overall
    response; progression: red bar; death: black cross; alive at last contact: arrow.
    """
    handles = [
        Line2D(
            [],
            [],
            marker=modality_style(m)[0],
            ls="none",
            color=modality_style(m)[1],
            markeredgecolor="black",
            label=f"session: {m}",
        )
        for m in sorted(set(sessions["modality"]))
    ]
    handles += [
        Line2D([], [], marker="o", ls="none", color=RESPONSE_COLOURS[r], label=r)
        for r in RESPONSE_COLOURS
        if r in set(assessments["overall_response"])
    ]
    handles += [
        Line2D([], [], marker="|", ls="none", ms=10, mew=2, color="#d1495b", label="progression"),
        Line2D([], [], marker="X", ls="none", color="black", label="death"),
        Line2D(
            [],
            [],
            marker=r"$\rightarrow$",
            ls="none",
            color="#333333",
            label="alive at last contact",
        ),
    ]
    # The legend sits right of the lanes; the figure is at least as tall as the legend.
    legend_width = max(_text_width(h.get_label(), 7) for h in handles) + _LEGEND_FRAME * 7
    legend_height = len(handles) * _LEGEND_ROW * 7
    height = max(1.6, 0.9 + 0.22 * len(lanes), legend_height + 2 * _PAD)
    fig = _figure(7.5, height)
    ax = fig.subplots()
    ypos = {p: i for i, p in enumerate(lanes["patient_no"])}
    ends = lanes["os_days"].fillna(0).to_numpy(dtype=float)
    ax.barh(list(ypos.values()), ends, height=0.5, color="#e6e6e6", edgecolor="#bbbbbb", lw=0.5)
    span = max(float(ends.max(initial=1.0)), 1.0)
    for row in lanes.itertuples():
        y = ypos[row.patient_no]
        if pd.notna(row.progression_day):
            ax.plot([row.progression_day], [y], marker="|", ms=12, mew=2, color="#d1495b")
        end = 0.0 if pd.isna(row.os_days) else float(row.os_days)
        if bool(row.os_event):
            ax.plot([end], [y], marker="X", ms=6, color="black")
        else:
            ax.annotate(
                "",
                xy=(end + 0.04 * span, y),
                xytext=(end, y),
                arrowprops={"arrowstyle": "->", "color": "#333333", "lw": 1},
            )
    for response, rows in assessments.groupby("overall_response"):
        ax.scatter(
            rows["day"],
            [ypos[p] for p in rows["patient_no"]],
            s=14,
            color=RESPONSE_COLOURS.get(response, "#8c8c8c"),
            zorder=3,
        )
    for modality, rows in sessions.groupby("modality"):
        marker, colour = modality_style(modality)
        ax.scatter(
            rows["day"],
            [ypos[p] for p in rows["patient_no"]],
            marker=marker,
            s=28,
            color=colour,
            edgecolor="black",
            lw=0.5,
            zorder=4,
        )
    ax.set_yticks(list(ypos.values()), [f"P{p}" for p in ypos], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("days from the first session")
    ax.set_xlim(left=min(-0.02 * span, 0), right=span * 1.08)
    fig.legend(handles=handles, fontsize=7, loc="upper right")
    _fit(
        fig,
        left=_label_space(ax.yaxis),
        bottom=_label_space(ax.xaxis),
        right=legend_width + 0.15,
        top=_title_space(),
    )
    return to_svg(fig, salt)


# --- response rates -----------------------------------------------------------------------


def response_rates(rates: pd.DataFrame, salt: str) -> str:
    """ORR and DCR with exact 95 % CIs per modality; unconfirmed hollow, confirmed filled."""
    fig = _figure(7.5, 0.9 + 0.45 * len(rates))
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(rates))
    for ax, measure in zip(axes, ("orr", "dcr"), strict=True):
        for offset, kind, fill in ((-0.15, "unconfirmed", "none"), (0.15, "confirmed", "C0")):
            pct = rates[f"{measure}_{kind}_pct"].to_numpy(dtype=float)
            lo = rates[f"{measure}_{kind}_lo"].to_numpy(dtype=float)
            hi = rates[f"{measure}_{kind}_hi"].to_numpy(dtype=float)
            ax.errorbar(
                pct,
                y + offset,
                xerr=[pct - lo, hi - pct],
                fmt="o",
                mfc=fill,
                color="C0",
                capsize=2,
                label=kind,
            )
        ax.set_title(measure.upper(), fontsize=9)
        ax.set_xlim(0, 100)
        # Two lines: on one, the labels of the two panels would run into each other.
        ax.set_xlabel("% of patients\n(95 % CI, Clopper–Pearson)")
    axes[0].set_yticks(
        y, [f"{m} (n={n})" for m, n in zip(rates["modality"], rates["n"], strict=True)]
    )
    axes[0].invert_yaxis()
    axes[1].legend(fontsize=7, loc="lower right")
    # Between the panels: half of the last x tick label of the left one and of the first
    # of the right one.
    _fit(
        fig,
        left=_label_space(axes[0].yaxis),
        bottom=_label_space(axes[0].xaxis),
        top=_title_space(9),
        wspace=0.35,
        cols=2,
    )
    return to_svg(fig, salt)


# --- Kaplan–Meier -------------------------------------------------------------------------


def _step_value(times: np.ndarray, survival: np.ndarray, at: np.ndarray) -> np.ndarray:
    """S(t) of a right-continuous step function given at ``times`` (1 before the first)."""
    idx = np.searchsorted(times, at, side="right") - 1
    return np.where(idx >= 0, survival[np.clip(idx, 0, None)], 1.0)


#: Horizontal resolution at which a survival curve is drawn: a figure is about 700 pixels
#: wide, so a curve of a large cohort (one step per distinct day) is drawn with at most
#: this many steps, and censor ticks that fall in the same step are drawn once. The
#: numbers (medians, number at risk) are computed from the full curve.
DRAW_STEPS = 700


def _thinned(
    times: np.ndarray, values: list[np.ndarray], cell: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A step function starting at (0, 1), keeping the last step in each ``cell`` of time."""
    if times.size == 0 or times[0] > 0:
        times = np.concatenate([[0.0], times])
        values = [np.concatenate([[1.0], v]) for v in values]
    bins = np.floor(times / cell)
    last = np.r_[bins[1:] != bins[:-1], True]
    last[0] = True  # keep the start
    return times[last], [v[last] for v in values]


def kaplan_meier(
    curves: list[tuple[str, object]],
    at_times: np.ndarray,
    at_risk: list[np.ndarray],
    xlabel: str,
    salt: str,
) -> str:
    """Curves (label, KaplanMeier) with CI bands, censor ticks and a number-at-risk table."""
    fig = _figure(7.5, 4.2 + 0.25 * len(curves))
    top, bottom = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 0.6 + 0.3 * len(curves)]}
    )
    span = max((float(np.max(km.times, initial=0.0)) for _, km in curves), default=1.0)
    cell = max(span, 1.0) / DRAW_STEPS
    for i, (label, km) in enumerate(curves):
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        times, (surv, lo, hi) = _thinned(
            np.asarray(km.times, dtype=float),
            [np.asarray(v, dtype=float) for v in (km.survival, km.ci_lower, km.ci_upper)],
            cell,
        )
        top.step(times, surv, where="post", color=colour, lw=1.4, label=label)
        top.fill_between(times, lo, hi, step="post", color=colour, alpha=0.12, lw=0)
        censored = np.unique(np.round(np.asarray(km.censor_times, dtype=float) / cell) * cell)
        if censored.size:
            top.plot(
                censored,
                _step_value(times, surv, censored),
                marker="|",
                ls="none",
                ms=6,
                color=colour,
            )
    top.set_ylim(0, 1.02)
    top.set_ylabel("probability")
    top.legend(fontsize=7, loc="upper right")
    bottom.set_ylim(-0.5, len(curves) - 0.5)
    bottom.invert_yaxis()
    for i, counts in enumerate(at_risk):
        for t, n in zip(at_times, counts, strict=True):
            bottom.text(
                t,
                i,
                f"{int(n):,}",
                ha="center",
                va="center",
                fontsize=7,
                color=GROUP_COLOURS[i % len(GROUP_COLOURS)],
            )
    bottom.set_yticks(range(len(curves)), [label.split(" (")[0] for label, _ in curves], fontsize=7)
    bottom.set_xticks(at_times)
    bottom.set_xlabel(xlabel)
    bottom.set_title("number at risk", fontsize=7, loc="left")
    for side in ("top", "right", "bottom"):
        bottom.spines[side].set_visible(False)
    bottom.tick_params(axis="y", length=0)
    _fit(
        fig,
        left=max(_label_space(top.yaxis), _label_space(bottom.yaxis)),
        bottom=_label_space(bottom.xaxis),
        right=0.35,
        top=_title_space(),
        hspace=_title_space(7) + 0.05,
        rows=2,
    )
    return to_svg(fig, salt)


# --- Cox forest plot ----------------------------------------------------------------------


def forest(table: pd.DataFrame, salt: str) -> str:
    """Hazard ratios with 95 % CIs on a log axis, a line at 1."""
    fig = _figure(7.5, 1.0 + 0.35 * max(len(table), 1))
    ax = fig.subplots()
    y = np.arange(len(table))
    hr = table["hr"].to_numpy(dtype=float)
    ax.errorbar(
        hr,
        y,
        xerr=[
            hr - table["ci_lower"].to_numpy(dtype=float),
            table["ci_upper"].to_numpy(dtype=float) - hr,
        ],
        fmt="s",
        color="#333333",
        capsize=3,
    )
    ax.axvline(1.0, ls="--", color="#888888", lw=1)
    ax.set_xscale("log")
    low = float(np.nanmin(table["ci_lower"].to_numpy(dtype=float), initial=1.0))
    high = float(np.nanmax(table["ci_upper"].to_numpy(dtype=float), initial=1.0))
    ticks = [2.0**k for k in range(-6, 7) if low / 2 <= 2.0**k <= high * 2]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y, list(table["covariate"]), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("hazard ratio for death (95 % CI, log scale)")
    _fit(fig, left=_label_space(ax.yaxis), bottom=_label_space(ax.xaxis), top=_title_space())
    return to_svg(fig, salt)


# --- NLR trajectories ---------------------------------------------------------------------


def nlr_trajectories(frame: pd.DataFrame, labels: dict[str, str], salt: str) -> str:
    """Median NLR with IQR bars at each time point, one line per modality."""
    fig = _figure()
    ax = fig.subplots()
    order = list(labels)
    modalities = sorted(set(frame["modality"]))
    for i, modality in enumerate(modalities):
        rows = frame[frame["modality"] == modality].set_index("timepoint").reindex(order)
        x = np.arange(len(order)) + (i - (len(modalities) - 1) / 2) * 0.08
        med = rows["median"].to_numpy(dtype=float)
        marker, colour = modality_style(modality)
        ax.errorbar(
            x,
            med,
            yerr=[med - rows["q1"].to_numpy(dtype=float), rows["q3"].to_numpy(dtype=float) - med],
            marker=marker,
            color=colour,
            capsize=2,
            label=modality,
        )
    ax.set_xticks(range(len(order)), [labels[t] for t in order])
    ax.set_ylabel("NLR (median, IQR)")
    ax.legend(fontsize=7)
    _fit(fig, left=_label_space(ax.yaxis), bottom=_label_space(ax.xaxis), top=_title_space())
    return to_svg(fig, salt)
