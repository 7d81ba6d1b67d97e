CREATE OR REPLACE TEMP VIEW parsed AS
SELECT
    patient_key, source_file, source_row,
    txt(patient_key) AS patient_key_txt,
    txt(collected_at) AS collected_at_txt, as_timestamp(collected_at) AS collected_at,
    -- a date-only value is collected "on the day" (labs-and-flags L4)
    length(txt(collected_at)) > 10 AS collected_has_time,
    txt(test) AS test_txt, txt(test) AS test,
    txt(value) AS value_txt, txt(value) AS value,
    txt(unit) AS unit_txt, txt(unit) AS unit
FROM raw_labs
