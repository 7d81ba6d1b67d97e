-- L3: the quarantined labs rows, one reason code each. Runs after labs_classified.
SELECT source_file, source_row, reason_code, reason
FROM labs_classified
WHERE reason_code IS NOT NULL
ORDER BY source_file, source_row
