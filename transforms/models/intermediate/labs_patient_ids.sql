-- depends_on:
-- reads: in_lab_results, in_sessions
-- A small integer per patient for the joins and groupings of the lab models:
-- hashing and comparing a 64-character patient_key over millions of lab rows
-- costs several times more than an integer. Outputs carry patient_key again.
CREATE OR REPLACE TEMP TABLE patient_ids AS
SELECT patient_key, (row_number() OVER ())::INTEGER AS pid
FROM (
    SELECT patient_key FROM in_sessions
    UNION
    SELECT patient_key FROM in_lab_results
)
