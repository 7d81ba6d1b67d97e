-- Responses (warehouse contract, "Responses over the whole course" and
-- "Responses after each session"); rules in ../shared/spec/response-criteria.md.

CREATE TABLE timepoint_responses (
    patient_key VARCHAR NOT NULL,
    criteria VARCHAR NOT NULL,
    study_date DATE NOT NULL,
    baseline_date DATE,
    days_from_baseline INTEGER,
    sum_mm DECIMAL(10,1),
    baseline_sum_mm DECIMAL(10,1),
    nadir_sum_mm DECIMAL(10,1),
    sum_unit VARCHAR NOT NULL,
    mean_hu DECIMAL(10,1),
    baseline_mean_hu DECIMAL(10,1),
    pct_change_hu_from_baseline DOUBLE,
    pct_change_from_baseline DOUBLE,
    pct_change_from_nadir DOUBLE,
    abs_change_from_nadir_mm DECIMAL(10,1),
    target_response VARCHAR,
    nontarget_response VARCHAR,
    new_lesions BOOLEAN,
    overall_response VARCHAR,
    reason VARCHAR,
    run_id VARCHAR NOT NULL
);

CREATE TABLE session_responses (
    patient_key VARCHAR NOT NULL,
    criteria VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL,
    session_number INTEGER NOT NULL,
    modality VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    study_date DATE NOT NULL,
    baseline_date DATE,
    days_from_baseline INTEGER,
    days_after_session INTEGER,
    sum_mm DECIMAL(10,1),
    baseline_sum_mm DECIMAL(10,1),
    nadir_sum_mm DECIMAL(10,1),
    sum_unit VARCHAR NOT NULL,
    mean_hu DECIMAL(10,1),
    baseline_mean_hu DECIMAL(10,1),
    pct_change_hu_from_baseline DOUBLE,
    pct_change_from_baseline DOUBLE,
    pct_change_from_nadir DOUBLE,
    abs_change_from_nadir_mm DECIMAL(10,1),
    target_response VARCHAR,
    nontarget_response VARCHAR,
    new_lesions BOOLEAN,
    overall_response VARCHAR,
    out_of_field_progression BOOLEAN,
    reason VARCHAR,
    run_id VARCHAR NOT NULL
);

CREATE TABLE best_responses (
    patient_key VARCHAR NOT NULL,
    criteria VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    bor VARCHAR,
    bor_confirmed VARCHAR,
    first_response_date DATE,
    progression_date DATE,
    pfs_days INTEGER,
    pfs_event BOOLEAN,
    ttp_days INTEGER,
    dor_days INTEGER,
    run_id VARCHAR NOT NULL
);
