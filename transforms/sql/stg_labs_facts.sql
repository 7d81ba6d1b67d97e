-- Read by the L1–L3 staging models (labs_classified) as in_labs_staged, which convert units.
SELECT patient_key, collected_at, collected_has_time, test, value, unit, source_file, source_row
FROM stg_labs_checked
WHERE reason_code IS NULL
