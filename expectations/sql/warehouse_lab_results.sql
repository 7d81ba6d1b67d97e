-- Frame of suite warehouse.lab_results: one row per lab_results row.
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH rows AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY source_file, source_row ORDER BY collected_at) AS lineage_number,
        -- L4: results of one analyte at the same instant that disagree
        max(value) OVER same_instant AS instant_max,
        min(value) OVER same_instant AS instant_min,
        count(DISTINCT coalesce(qualifier, '=')) OVER same_instant AS instant_qualifiers,
        count(*) OVER same_instant AS instant_rows
    FROM lab_results
    WINDOW same_instant AS (PARTITION BY patient_key, analyte, collected_at)
)
SELECT
    l.patient_key AS patient_key,
    l.lineage_number > 1 AS is_duplicate_lineage,
    p.patient_key IS NOT NULL AS patient_known,
    CASE WHEN a.analyte IS NOT NULL THEN l.unit = a.canonical_unit END AS unit_is_canonical,
    CASE WHEN a.analyte IS NOT NULL AND l.value IS NOT NULL THEN
        l.value BETWEEN a.physiological_min AND a.physiological_max
    END AS value_in_physiological_range,
    l.qualifier,
    not_future(l.collected_at) AS collected_at_not_in_future,
    CASE WHEN l.instant_rows > 1 THEN
        l.instant_qualifiers = 1
        AND l.instant_max - l.instant_min
            <= getvariable('same_instant_agreement_rel') * greatest(abs(l.instant_max), abs(l.instant_min))
    END AS agrees_with_same_instant_results
FROM rows AS l
LEFT JOIN wh_patients_once AS p ON p.patient_key = l.patient_key
LEFT JOIN ref_analytes AS a ON a.analyte = l.analyte;
