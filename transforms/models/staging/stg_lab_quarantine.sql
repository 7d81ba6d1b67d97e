-- depends_on: labs_classified
-- reads:
-- L3: the quarantined labs rows, one reason code each (every labs column is
-- required: the row is rejected). Runs after labs_classified.
SELECT source_file, source_row, column_name, reason_code, 'row_rejected' AS action, reason
FROM labs_classified
WHERE reason_code IS NOT NULL
ORDER BY source_file, source_row
