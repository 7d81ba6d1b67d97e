"""Pure, set-based transforms: relations in, relations out.

A transform knows nothing of Prefect, files or the warehouse. Its rules are SQL
models under ``transforms/models/{staging,intermediate,marts}/`` (one file per
model, dependencies declared in the file, dbt style), run by
``transforms.engine.run_models`` on a DuckDB connection it is given: the build
database in the pipeline (``transforms.derive``), an in-memory DuckDB holding
Arrow tables in the Arrow-level wrappers and the tests. Parameters arrive as
DuckDB variables from one frozen ``config.params.TransformParams`` per transform.
Staging of the source text (``transforms/staging.py``, ``transforms/sql/stg_*``)
runs on a given connection too: the build's, over the raw tables where they are.
"""
