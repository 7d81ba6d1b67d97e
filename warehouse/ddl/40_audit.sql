-- Audit (warehouse contract, "Audit"). These tables keep their history from
-- run to run: each publication carries the previous rows forward.

CREATE TABLE pipeline_runs (
    run_id VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,
    source VARCHAR,
    config_hash VARCHAR,
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_quarantined BIGINT
);

CREATE TABLE ingested_files (
    run_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    rows BIGINT NOT NULL
);

CREATE TABLE quarantine (
    run_id VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_row BIGINT NOT NULL,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    -- row_rejected: the row is not loaded; value_nulled: the row is loaded with the
    -- value named in reason set to null; superseded: a later file's row replaced it
    action VARCHAR NOT NULL DEFAULT 'row_rejected'
);

CREATE TABLE dq_results (
    run_id VARCHAR NOT NULL,
    suite VARCHAR NOT NULL,
    expectation VARCHAR NOT NULL,
    column_name VARCHAR,
    success BOOLEAN NOT NULL,
    unexpected_count BIGINT,
    element_count BIGINT,
    kahn_category VARCHAR,
    severity VARCHAR
);
