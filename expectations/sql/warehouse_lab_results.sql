-- Frame of suite warehouse.lab_results: one row per lab_results row.
-- Results of one analyte at the same instant (L4: to the second, or to the day
-- when no time was given) are found among the rows sharing a hash of that
-- key, the only ones compared exactly. For each of their source rows: how
-- often it was loaded, and whether the results at its instant agree.
CREATE OR REPLACE TEMP TABLE dq_wh_lab_instants AS
WITH hashed AS (
    SELECT patient_key, analyte, collected_at, collected_has_time, value, qualifier,
        source_file, source_row,
        hash(patient_key, analyte, collected_at, collected_has_time) AS instant_hash
    FROM lab_results
),
candidates AS (
    SELECT * FROM hashed
    WHERE instant_hash IN (SELECT instant_hash FROM hashed GROUP BY instant_hash HAVING count(*) > 1)
),
instants AS (
    SELECT patient_key, analyte, collected_at, collected_has_time,
        count(*) AS results,
        count(DISTINCT coalesce(qualifier, '=')) = 1
        AND coalesce(max(value) - min(value)
            <= getvariable('same_instant_agreement_rel') * greatest(abs(max(value)), abs(min(value))), TRUE)
            AS agree
    FROM candidates
    GROUP BY ALL
)
SELECT c.source_file, c.source_row,
    count(*) AS loads,
    max(i.results) > 1 AS shared_instant,
    bool_and(i.agree) AS agree
FROM candidates AS c
JOIN instants AS i USING (patient_key, analyte, collected_at, collected_has_time)
GROUP BY ALL;

CREATE OR REPLACE TEMP VIEW dq_frame AS
SELECT
    l.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    coalesce(i.loads > 1, FALSE) AS is_repeated_source_row,
    p.patient_key IS NOT NULL AS patient_known,
    CASE WHEN a.analyte IS NOT NULL THEN l.unit = a.canonical_unit END AS unit_is_canonical,
    CASE WHEN a.analyte IS NOT NULL AND l.value IS NOT NULL THEN
        l.value BETWEEN a.physiological_min AND a.physiological_max
    END AS value_in_physiological_range,
    l.qualifier,
    dq_not_future(l.collected_at) AS collected_at_not_in_future,
    CASE WHEN i.shared_instant THEN i.agree END AS agrees_with_same_instant_results
FROM lab_results AS l
LEFT JOIN dq_wh_lab_instants AS i ON i.source_file = l.source_file AND i.source_row = l.source_row
LEFT JOIN dq_wh_patients_once AS p ON p.patient_key = l.patient_key
LEFT JOIN dq_ref_analytes AS a ON a.analyte = l.analyte;
