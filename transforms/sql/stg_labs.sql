CREATE OR REPLACE TEMP VIEW stg_labs_parsed AS
SELECT
    patient_key, source_file, source_row,
    stg_txt(patient_key) AS patient_key_txt,
    stg_txt(collected_at) AS collected_at_txt, stg_as_timestamp(collected_at) AS collected_at,
    -- a date-only value is collected "on the day" (labs-and-flags L4)
    length(stg_txt(collected_at)) > 10 AS collected_has_time,
    stg_txt(test) AS test_txt, stg_txt(test) AS test,
    stg_txt(value) AS value_txt, stg_txt(value) AS value,
    stg_txt(unit) AS unit_txt, stg_txt(unit) AS unit
FROM stg_labs_raw
