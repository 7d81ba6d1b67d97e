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
    -- the column at fault; null when the row as a whole is (duplicate, no study,
    -- malformed line, superseded)
    column_name VARCHAR,
    -- what was done (transforms.quarantine.Action): value_nulled (the row loads
    -- with this column null), row_rejected (the row is not loaded) or superseded
    -- (a later file's row with the same key replaced it; not loaded)
    action VARCHAR NOT NULL
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
