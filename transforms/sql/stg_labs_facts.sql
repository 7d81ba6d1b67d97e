-- Handed to transforms.labs.normalise_labs (L1–L3), which converts units.
SELECT patient_key, collected_at, collected_has_time, test, value, unit, source_file, source_row
FROM stg_labs_checked
WHERE reason_code IS NULL
