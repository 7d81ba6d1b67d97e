"""The outcome report: survival statistics, charts and pages (issue 10)."""
