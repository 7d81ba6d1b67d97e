-- depends_on: resp_lesion_rows
-- reads:
-- R1: the lesion rows to remove from lesion_measurements (quarantine rows).
-- The reason names the column and the rule, never an identifier or a date.
SELECT
    source_file, source_row, 'role' AS column_name,
    'target_after_baseline' AS reason_code, 'row_rejected' AS action,
    'role is target, but the lesion was not a target at the course baseline '
    || '(targets are fixed at baseline, response-criteria R1)' AS reason
FROM resp_lesion_rows
WHERE target_after_baseline AND NOT measurement_rejected  -- (already quarantined)
ORDER BY source_file, source_row
