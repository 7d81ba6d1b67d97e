"""Prefect flows and the nelmtrack command line: orchestration only."""
