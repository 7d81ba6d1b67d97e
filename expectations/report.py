"""The offline data-quality report: GX Data Docs made local, plus a one-page summary.

Great Expectations 1.24 renders Data Docs that load jQuery, Bootstrap,
bootstrap-table, popper, datepicker, Font Awesome and Vega from public CDNs,
show a logo from an S3 address and link to greatexpectations.io. A report
about patients must open from a file share with no network and send nothing
out, so after the site is built every page is rewritten: CDN references point
to the copies shipped in ``expectations/assets`` (versions in VERSIONS.md),
the remote logo, footer and links are dropped. ``index.html`` beside the site
summarises the run by Kahn category and severity and links into the pages.
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa

from expectations.suites import KAHN_CATEGORIES, SEVERITIES, Suite

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).parent / "assets"
VENDOR = Path("static") / "vendor"

# Every remote asset the GX 1.24.1 templates reference -> its copy under assets/.
CDN_ASSETS = {
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",  # noqa: E501
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper/popper.min.js",  # noqa: E501
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/js/bootstrap.min.js",  # noqa: E501
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",  # noqa: E501
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",  # noqa: E501
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",  # noqa: E501
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (  # noqa: E501
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (  # noqa: E501
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (  # noqa: E501
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (  # noqa: E501
        "bootstrap-datepicker/js/bootstrap-datepicker.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (  # noqa: E501
        "bootstrap-datepicker/css/bootstrap-datepicker.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (  # noqa: E501
        "bootstrap-dark/css/bootstrap-prefers-dark.min.css"
    ),
}

_ASSET_ATTR = re.compile(r'\b(src|href)="(https?://[^"]+)"')
_SRI = re.compile(r'\s(integrity|crossorigin)="[^"]*"')
_REMOTE_IMG = re.compile(r"<img\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>", re.S)
_REMOTE_LINK = re.compile(r"<a\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>(.*?)</a>", re.S)
_NEWSLETTER = re.compile(r"<footer>\s*<p>Stay current on everything GX.*?</footer>", re.S)
_FAVICON = re.compile(r'href="(?:\.\./)*static/images/favicon\.ico"')
_CSS_REMOTE_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)")


def localise_page(text: str, site_prefix: str) -> str:
    """One Data Docs page with local assets and no remote image, link or footer.

    ``site_prefix`` is the relative path from the page's folder to the site root.
    """
    vendor_prefix = f"{site_prefix}/{VENDOR.as_posix()}"
    text = _REMOTE_IMG.sub("", text)
    # GX 1.24 counts one folder too few for the favicon of validation pages.
    text = _FAVICON.sub(f'href="{site_prefix}/static/images/favicon.ico"', text)
    text = _NEWSLETTER.sub("", text)

    def asset(match: re.Match[str]) -> str:
        attribute, url = match.groups()
        local = CDN_ASSETS.get(url)
        if local is None:
            return match.group(0)
        return f'{attribute}="{vendor_prefix}/{local}"'

    text = _ASSET_ATTR.sub(asset, text)
    # Subresource integrity and CORS attributes make file:// scripts fail to load.
    text = re.sub(r"<(script|link)\b[^>]*>", lambda m: _SRI.sub("", m.group(0)), text)
    text = _REMOTE_LINK.sub(r"\1", text)
    text = _CSS_REMOTE_URL.sub("none", text)

    def neutralise(match: re.Match[str]) -> str:
        log.warning(
            "Data Docs reference to an unknown remote asset removed: %s",
            match.group(2).split("/")[2],
        )
        return f'{match.group(1)}="about:blank"'

    return _ASSET_ATTR.sub(neutralise, text)


def localise_site(site_dir: Path) -> None:
    """Copy the vendored assets into the site and rewrite every page and style sheet."""
    vendor = site_dir / VENDOR
    shutil.rmtree(vendor, ignore_errors=True)
    shutil.copytree(ASSETS_DIR, vendor)
    for page in site_dir.rglob("*.html"):
        prefix = Path(os.path.relpath(site_dir, page.parent)).as_posix()
        page.write_text(localise_page(page.read_text(encoding="utf-8"), prefix), encoding="utf-8")
    for sheet in (site_dir / "static" / "styles").glob("*.css"):
        sheet.write_text(
            _CSS_REMOTE_URL.sub("none", sheet.read_text(encoding="utf-8")), encoding="utf-8"
        )


def _validation_page(site_dir: Path, suite: Suite) -> Path | None:
    pages = sorted((site_dir / "validations" / suite.side / suite.table).rglob("*.html"))
    return pages[-1] if pages else None


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 70rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f2f2f2; }
td.num { text-align: right; }
.failed { color: #a00; font-weight: 600; }
.passed { color: #070; }
.muted { color: #666; }
"""


def _cell(passed: int, failed: int) -> str:
    if passed + failed == 0:
        return '<td class="muted">–</td>'
    cls = "failed" if failed else "passed"
    return f'<td class="{cls}">{passed} passed, {failed} failed</td>'


def render_index(
    run_id: str,
    results: pa.Table,
    summary: pa.Table,
    links: dict[str, str],
    skipped: list[str],
) -> str:
    """The one-page summary: Kahn category x severity, suites with links, failing checks."""
    esc = html.escape
    counts = {(r["kahn_category"], r["severity"]): r for r in summary.to_pylist()}
    grid = "".join(
        f"<tr><th>{esc(k)}</th>"
        + "".join(
            _cell(counts[k, s]["passed"], counts[k, s]["failed"])
            if (k, s) in counts
            else _cell(0, 0)
            for s in SEVERITIES
        )
        + "</tr>"
        for k in KAHN_CATEGORIES
    )
    rows = results.to_pylist()
    suite_rows = "".join(
        "<tr><td>{name}</td><td class='num'>{n}</td><td class='num {cls}'>{f}</td>"
        "<td>{link}</td></tr>".format(
            name=esc(name),
            n=sum(r["suite"] == name for r in rows),
            f=sum(r["suite"] == name and not r["success"] for r in rows),
            cls="failed"
            if any(r["suite"] == name and not r["success"] for r in rows)
            else "passed",
            link=f'<a href="{esc(href)}">Data Docs</a>',
        )
        for name, href in links.items()
    )
    failing = [r for r in rows if not r["success"]]
    order = {s: i for i, s in enumerate(SEVERITIES)}
    failing.sort(key=lambda r: (order[r["severity"]], r["suite"], r["expectation"]))
    fail_rows = "".join(
        "<tr><td>{sev}</td><td>{kahn}</td><td><a href='{href}'>{suite}</a></td><td>{check}</td>"
        "<td class='num'>{bad}</td><td class='num'>{n}</td></tr>".format(
            sev=esc(r["severity"]),
            kahn=esc(r["kahn_category"]),
            href=esc(links.get(r["suite"], "#")),
            suite=esc(r["suite"]),
            check=esc(r["expectation"]),
            bad="" if r["unexpected_count"] is None else r["unexpected_count"],
            n="" if r["element_count"] is None else r["element_count"],
        )
        for r in failing
    )
    fatal = sum(r["severity"] == "fatal" for r in failing)
    verdict = (
        f'<p class="failed">{fatal} fatal check(s) failed: this run must not be published.</p>'
        if fatal
        else '<p class="passed">No fatal check failed.</p>'
    )
    fail_table = (
        "<table><tr><th>severity</th><th>category</th><th>suite</th><th>check</th>"
        f"<th>failing rows</th><th>rows checked</th></tr>{fail_rows}</table>"
        if failing
        else "<p>None.</p>"
    )
    skipped_note = (
        f'<p class="muted">Not checked (table absent from this run): {esc(", ".join(skipped))}</p>'
        if skipped
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nelmtrack data quality, run {esc(run_id)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Data quality, run {esc(run_id)}</h1>
{verdict}
<p>Checks follow Kahn's framework as in the OHDSI DataQualityDashboard. Counts only:
no identifier or value of a patient is shown here or in the Data Docs.
<a href="data_docs/index.html">All Data Docs</a></p>
<h2>By category and severity</h2>
<table><tr><th>Kahn category</th>{"".join(f"<th>{s}</th>" for s in SEVERITIES)}</tr>{grid}</table>
<h2>Suites</h2>
<table><tr><th>suite</th><th>checks</th><th>failed</th><th>report</th></tr>{suite_rows}</table>
{skipped_note}
<h2>Failing checks</h2>
{fail_table}
</body>
</html>
"""


def write_report(
    docs_dir: Path,
    run_id: str,
    results: pa.Table,
    summary: pa.Table,
    suites: list[Suite],
    skipped: list[str],
) -> Path:
    """Make the built Data Docs local and write ``docs_dir/index.html``; return its path."""
    site_dir = docs_dir / "data_docs"
    localise_site(site_dir)
    links = {}
    for suite in suites:
        page = _validation_page(site_dir, suite)
        if page is not None:
            links[suite.name] = quote(page.relative_to(docs_dir).as_posix())
    index = docs_dir / "index.html"
    index.write_text(render_index(run_id, results, summary, links, skipped), encoding="utf-8")
    return index
