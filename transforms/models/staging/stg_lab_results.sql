-- depends_on: labs_classified
-- reads:
-- L1-L3: the rows of lab_results (lineage kept): every row of labs_classified
-- that is not quarantined. Runs after labs_classified. collected_has_time is
-- passed on for L4 (the warehouse keeps it only if lab_results has the column).
-- A view, as labs_classified is: the stage reads it as it loads lab_results.
-- Unordered: sorting the rows cost a third of that load, and no reader of
-- lab_results depends on the order its rows were stored in.
CREATE OR REPLACE TEMP VIEW stg_lab_results AS
SELECT
    patient_key,
    collected_at,
    analyte,
    value,
    unit,
    qualifier,
    value_raw,
    unit_raw,
    test_raw,
    source_file,
    source_row,
    collected_has_time
FROM labs_classified
WHERE reason_code IS NULL
