-- depends_on: patient_ids
-- reads: in_lab_results
-- L4: one reading per analyte and instant. Results of one analyte at the same
-- instant (same collected_at; the same day when one of them has no time, so a
-- day with a date-only result is one instant for that analyte) are used only
-- if they agree (|a - b| <= rel x max(|a|, |b|), same qualifier); then the
-- later-loaded one (highest source_file, source_row) counts, otherwise the
-- reading's value is NULL so that every flag it would decide is NULL (it is
-- not replaced by an older value). Only the analytes the flags use are kept.
-- Runs after labs_patient_ids; patients are identified by pid.
CREATE OR REPLACE TEMP TABLE lab_readings AS
WITH analyte_rows AS (
    SELECT
        p.pid,
        l.analyte,
        l.collected_at,
        l.value,
        l.qualifier,
        l.source_file,
        l.source_row,
        l.collected_at::DATE AS collected_day,
        coalesce(l.collected_has_time, l.collected_at::TIME <> TIME '00:00:00') AS has_time
    FROM in_lab_results AS l
    JOIN patient_ids AS p ON p.patient_key = l.patient_key
    WHERE list_contains(getvariable('flag_analytes'), l.analyte)
),
busy_days AS (
    -- nearly every (analyte, day) holds a single result, which needs no L4 work
    SELECT pid, analyte, collected_day, bool_and(has_time) AS all_timed
    FROM analyte_rows
    GROUP BY pid, analyte, collected_day
    HAVING count(*) > 1
),
busy_instants AS (
    SELECT
        r.pid,
        r.analyte,
        CASE WHEN d.all_timed THEN r.collected_at ELSE r.collected_day::TIMESTAMP END AS instant,
        max(r.collected_at) AS collected_at,
        arg_max({'value': r.value, 'qualifier': r.qualifier}, (r.source_file, r.source_row)) AS latest,
        count(*) AS n_results,
        count(r.value) = count(*)
            AND min(coalesce(r.qualifier, '=')) = max(coalesce(r.qualifier, '='))
            AND max(r.value) - min(r.value)
                <= getvariable('same_instant_agreement_rel') * greatest(abs(max(r.value)), abs(min(r.value)))
            AS agree
    FROM analyte_rows AS r
    JOIN busy_days AS d
        ON d.pid = r.pid AND d.analyte = r.analyte AND d.collected_day = r.collected_day
    GROUP BY ALL
)
SELECT r.pid, r.analyte, r.collected_at, r.value, r.qualifier, 1 AS n_results
FROM analyte_rows AS r
ANTI JOIN busy_days AS d
    ON d.pid = r.pid AND d.analyte = r.analyte AND d.collected_day = r.collected_day
UNION ALL
SELECT
    pid,
    analyte,
    collected_at,
    CASE WHEN agree THEN latest.value END AS value,
    CASE WHEN agree THEN latest.qualifier END AS qualifier,
    n_results
FROM busy_instants
