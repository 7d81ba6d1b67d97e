"""HTML building blocks of the report: one self-contained page, no script, no remote asset.

Every value that comes from the data is escaped; the SVGs are Matplotlib's own output.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; color: #222; max-width: 64rem;
       padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.5rem; }
nav { font-size: 0.9rem; columns: 3; margin: 1rem 0; }
nav a { display: block; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure.fig { margin: 1rem 0 2rem; }
figure.fig svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 0.85rem; color: #444; margin-top: 0.3rem; }
.muted { color: #666; }
.note { font-size: 0.85rem; background: #f7f7f2; border-left: 3px solid #ccc; padding: 0.4rem; }
"""

esc = html.escape


def page(title: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{STYLE}</style>
</head>
<body>
{body}
</body>
</html>
"""


def figure(fig_id: str, title: str, svg: str, used: str, left_out: str, note: str = "") -> str:
    """A figure with its caption: what it shows, the rows it used, who was left out."""
    extra = f" {esc(note)}" if note else ""
    return (
        f'<figure class="fig" id="{esc(fig_id)}">\n<h4>{esc(title)}</h4>\n{svg}\n'
        f"<figcaption><b>Rows used:</b> {esc(used)}. <b>Left out:</b> {esc(left_out)}."
        f"{extra}</figcaption>\n</figure>\n"
    )


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return '<td class="muted">–</td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, float):
        return f'<td class="num">{value:,.2f}</td>'
    return f"<td>{esc(str(value))}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], caption: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<tr>{head}</tr>{body}</table>\n"


def days(value: object) -> str:
    return "–" if value is None or value != value else f"{float(value):,.0f} d"


def median_text(median: float | None, ci: tuple[float | None, float | None]) -> str:
    """'812 d (95 % CI 650–990)'; 'not reached' when the curve stays above 0.5."""

    def one(v: float | None) -> str:
        return "NR" if v is None or v != v or v == float("inf") else f"{v:,.0f}"

    if median is None or median != median or median == float("inf"):
        return f"not reached (95 % CI {one(ci[0])}–{one(ci[1])})"
    return f"{one(median)} d (95 % CI {one(ci[0])}–{one(ci[1])})"


def p_text(p: float | None) -> str:
    if p is None or p != p:
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
