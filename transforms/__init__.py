"""Pure, set-based transforms: tables in, tables out.

A transform knows nothing of Prefect, files or the warehouse. It receives
Arrow tables (or anything DuckDB can scan), runs SQL over all patients at
once in a private in-memory DuckDB, and returns Arrow tables. SQL lives in
``transforms/sql/<name>.sql``, one model per file, dbt style.
"""
