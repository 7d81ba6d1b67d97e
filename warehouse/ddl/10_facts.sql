-- Cleaned facts (warehouse contract, "Cleaned facts"). Every row carries the
-- run that loaded it and the source file and row it came from (lineage:
-- join source_file to ingested_files.path).

CREATE TABLE patients (
    patient_key VARCHAR NOT NULL,
    sex VARCHAR,
    birth_year INTEGER,
    primary_site VARCHAR,
    ki67_pct DOUBLE,
    who_grade VARCHAR,
    functional BOOLEAN,
    bilioenteric_anastomosis BOOLEAN,
    prior_whipple BOOLEAN,
    death_date DATE,
    last_contact_date DATE,
    run_id VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_row BIGINT NOT NULL
);

CREATE TABLE sessions (
    patient_key VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL,
    session_date DATE NOT NULL,
    session_number INTEGER NOT NULL,
    modality VARCHAR NOT NULL,
    treated_segments INTEGER[] NOT NULL,
    agent VARCHAR,
    microsphere VARCHAR,
    activity_gbq DOUBLE,
    prior_systemic_lines INTEGER,
    lvef_pct DOUBLE,
    run_id VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_row BIGINT NOT NULL
);

CREATE TABLE imaging_studies (
    patient_key VARCHAR NOT NULL,
    study_date DATE NOT NULL,
    modality VARCHAR NOT NULL,
    extrahepatic_disease BOOLEAN,
    ascites BOOLEAN,
    liver_tumor_burden_pct DOUBLE,
    portal_vein_occlusion BOOLEAN,
    run_id VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_row BIGINT NOT NULL
);

CREATE TABLE lesion_measurements (
    patient_key VARCHAR NOT NULL,
    study_date DATE NOT NULL,
    lesion_id VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    organ VARCHAR NOT NULL,
    liver_segment INTEGER,
    status VARCHAR NOT NULL,
    longest_diameter_mm DECIMAL(10,1),
    short_axis_mm DECIMAL(10,1),
    viable_diameter_mm DECIMAL(10,1),
    viable_perpendicular_mm DECIMAL(10,1),
    attenuation_hu DOUBLE,
    is_nodal BOOLEAN NOT NULL,
    run_id VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_row BIGINT NOT NULL
);

CREATE TABLE lab_results (
    patient_key VARCHAR NOT NULL,
    collected_at TIMESTAMP NOT NULL,
    collected_has_time BOOLEAN NOT NULL, -- false: a date without a time ("on the day", L4)
    analyte VARCHAR NOT NULL,
    value DOUBLE,
    unit VARCHAR,
    qualifier VARCHAR,
    value_raw VARCHAR NOT NULL,
    unit_raw VARCHAR NOT NULL,
    test_raw VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_row BIGINT NOT NULL
);
