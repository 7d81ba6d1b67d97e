-- Frame of suite warehouse.nlr: one row per nlr row.
-- Keys held by more than one row, found among the rows sharing a hash of the
-- key (a GROUP BY or window over every row's key costs far more at scale).
CREATE OR REPLACE TEMP TABLE dq_wh_nlr_dup_keys AS
WITH hashed AS (
    SELECT patient_key, collected_at, hash(patient_key, collected_at) AS key_hash
    FROM nlr
)
SELECT patient_key, collected_at
FROM hashed
WHERE key_hash IN (SELECT key_hash FROM hashed GROUP BY key_hash HAVING count(*) > 1)
GROUP BY ALL
HAVING count(*) > 1;

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH rows AS (
    SELECT * FROM nlr
)
SELECT
    n.patient_key AS patient_key,
    -- the same for every row: the table's columns and types are those of the DDL
    getvariable('columns_match_ddl') AS columns_match_ddl,
    d.patient_key IS NOT NULL AS is_duplicate_key,
    p.patient_key IS NOT NULL AS patient_known,
    n.neutrophils,
    n.lymphocytes,
    n.nlr,
    CASE WHEN n.nlr IS NOT NULL AND n.lymphocytes > 0 AND n.neutrophils IS NOT NULL THEN
        abs(n.nlr - n.neutrophils / n.lymphocytes)
            <= getvariable('ratio_rel_tolerance') * (n.neutrophils / n.lymphocytes)
    END AS nlr_is_neutrophils_over_lymphocytes,
    dq_not_future(n.collected_at) AS collected_at_not_in_future
FROM rows AS n
LEFT JOIN dq_wh_patients_once AS p ON p.patient_key = n.patient_key
LEFT JOIN dq_wh_nlr_dup_keys AS d ON d.patient_key = n.patient_key AND d.collected_at = n.collected_at;
