"""The data-quality report: local assets only, no patient identifier or value, opens offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_dq_checks import BAD_ROWS, broken_outputs
from test_dq_synthetic import PATIENT_KEYS, clean_inputs, raw_inputs_with

from config import load_config
from expectations import run_quality_checks
from expectations.report import CDN_ASSETS, localise_page

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# An identifier-like free text typed into a coded column: it must not reach the report.
PLANTED = "Jane Roe MRN 4471-2208"
# Keys, the planted text and study dates (GX's random element ids cannot contain these).
PERSONAL_VALUES = (*PATIENT_KEYS, PLANTED, "Jane Roe", "2023-12-20", "2024-03-01")


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    tables = clean_inputs()
    for dataset, rows in BAD_ROWS.items():
        tables[dataset] = raw_inputs_with(dataset, *rows)[dataset]
    planted = (PATIENT_KEYS[0], "2024-03-01", "L8", "new", PLANTED, "", "present", "", "", "", "")
    tables["lesions"] = raw_inputs_with("lesions", *BAD_ROWS["lesions"], planted)["lesions"]
    docs_dir = tmp_path_factory.mktemp("dq-report")
    outcome = run_quality_checks(
        tables, broken_outputs(), "run-report", load_config().section("dq"), docs_dir
    )
    assert outcome.report == docs_dir / "index.html"
    assert outcome.fatal_failures  # the report has failures to show
    return docs_dir


def html_files(docs_dir: Path) -> list[Path]:
    return sorted(docs_dir.rglob("*.html"))


def test_report_has_a_summary_page_and_data_docs(docs) -> None:
    index = (docs / "index.html").read_text()
    assert "conformance.relational" in index and "plausibility.temporal" in index
    assert "must not be published" in index
    assert (docs / "data_docs" / "index.html").is_file()
    # one page per suite: 5 input datasets, 12 public tables (survival included)
    assert len(list((docs / "data_docs" / "validations").rglob("*.html"))) == 17


def test_summary_page_links_into_existing_data_docs_pages(docs) -> None:
    index = (docs / "index.html").read_text()
    links = re.findall(r"href=['\"]([^'\"#]+)['\"]", index)
    assert any("validations/inputs/lesions" in link for link in links)
    for link in links:
        assert (docs / link).is_file(), link


def test_no_page_references_a_remote_host(docs) -> None:
    for page in html_files(docs):
        text = page.read_text()
        assert "http://" not in text and "https://" not in text, page
    for sheet in (docs / "data_docs" / "static" / "styles").glob("*.css"):
        assert not re.search(r"url\(\s*['\"]?https?:", sheet.read_text()), sheet


def test_every_local_asset_a_page_references_exists(docs) -> None:
    for page in html_files(docs):
        for ref in re.findall(r"(?:src|href)=\"([^\"#?]+)\"", page.read_text()):
            if ref.startswith(("about:", "data:", "javascript:")):
                continue
            assert (page.parent / ref).resolve().is_file(), (page, ref)


def test_no_patient_identifier_or_value_appears_anywhere_in_the_report(docs) -> None:
    for path in docs.rglob("*"):
        if path.is_file() and "vendor" not in path.parts:
            data = path.read_bytes()
            for value in PERSONAL_VALUES:
                assert value.encode() not in data, (path, value)


def test_vendored_assets_cover_every_cdn_reference_of_the_templates() -> None:
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    urls = set()
    for template in templates.glob("*.j2"):
        urls |= set(
            re.findall(
                r"(?:src|href)=\"(https?://[^\"]+\.(?:js|css)|https?://cdn[^\"]+)\"",
                template.read_text(),
            )
        )
    assert urls <= set(CDN_ASSETS)
    assets = REPO / "expectations" / "assets"
    for local in CDN_ASSETS.values():
        assert (assets / local).is_file(), local
    assert "5.33.1" in (assets / "VERSIONS.md").read_text()


def test_localise_page_rewrites_assets_and_drops_remote_logo_and_links() -> None:
    page = (
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js" '
        'integrity="sha384-x" crossorigin="anonymous"></script>'
        '<img class="NO-CACHE" src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/'
        'logo-long.png?d=1" alt="Great Expectations"/>'
        '<a href="https://greatexpectations.io">Great Expectations</a>'
        '<link rel="shortcut icon" href="../../../../static/images/favicon.ico" '
        'type="image/x-icon"/>'
    )
    out = localise_page(page, "../../../../..")
    assert 'href="../../../../../static/vendor/bootstrap/css/bootstrap.min.css"' in out
    assert 'src="../../../../../static/vendor/popper/popper.min.js"></script>' in out
    assert "integrity" not in out and "crossorigin" not in out and "<img" not in out
    assert out.endswith(
        'Great Expectations<link rel="shortcut icon" '
        'href="../../../../../static/images/favicon.ico" type="image/x-icon"/>'
    )


def test_importing_expectations_does_not_import_great_expectations() -> None:
    code = "import sys, expectations; assert 'great_expectations' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_report_opens_in_chromium_without_network_or_javascript_errors(docs, tmp_path) -> None:
    if not CHROMIUM.exists():
        # CI installs it (.ci/run): there a missing browser is a failure, not a skip.
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI: Debian chromium (/usr/bin/chromium) is not installed")
        pytest.skip("Debian chromium (/usr/bin/chromium) not installed")
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "check_report_offline.py"),
            str(docs),
            "--screenshot",
            str(shot),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("report-index.png", "report-data-docs.png", "report-validation.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
