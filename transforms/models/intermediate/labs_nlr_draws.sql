-- depends_on: labs_readings
-- reads:
-- N1: NLR = absolute neutrophils / absolute lymphocytes drawn on the same
-- calendar day: the pair with the same collection time (the day's latest such
-- pair), else the day's last of each. Lymphocytes 0, a censored count or an
-- undecided reading (L4) give NLR NULL; the row is kept so that it still
-- counts as the draw of that day. Runs after labs_readings.
-- lab_readings holds one reading per (pid, analyte, collected_at), so "the
-- latest" is a max of timestamps joined back: fixed-size aggregates and hash
-- joins, which DuckDB spills to disk; an arg_max over structs per patient-day
-- cannot spill and ran a 125,000-patient shard out of memory.
CREATE OR REPLACE TEMP TABLE labs_nlr_draws AS
WITH counts AS (
    SELECT pid, collected_at, collected_at::DATE AS day, analyte, value, qualifier
    FROM lab_readings
    WHERE analyte IN ('neutrophils', 'lymphocytes')
),
same_time_pairs AS (
    SELECT n.pid, n.day, n.collected_at, n.value AS nv, n.qualifier AS nq, l.value AS lv, l.qualifier AS lq
    FROM counts AS n
    JOIN counts AS l
        ON l.pid = n.pid AND l.collected_at = n.collected_at AND l.analyte = 'lymphocytes'
    WHERE n.analyte = 'neutrophils'
),
days_latest_pair AS (
    SELECT pid, day, max(collected_at) AS collected_at
    FROM same_time_pairs
    GROUP BY pid, day
),
days_last AS (
    SELECT
        pid,
        day,
        max(collected_at) FILTER (WHERE analyte = 'neutrophils') AS n_at,
        max(collected_at) FILTER (WHERE analyte = 'lymphocytes') AS l_at
    FROM counts
    GROUP BY pid, day
),
day_pairs AS (
    SELECT p.pid, p.collected_at, p.nv, p.nq, p.lv, p.lq
    FROM same_time_pairs AS p
    SEMI JOIN days_latest_pair AS d ON d.pid = p.pid AND d.collected_at = p.collected_at
    UNION ALL
    SELECT d.pid, greatest(d.n_at, d.l_at), n.value, n.qualifier, l.value, l.qualifier
    FROM days_last AS d
    JOIN counts AS n ON n.pid = d.pid AND n.collected_at = d.n_at AND n.analyte = 'neutrophils'
    JOIN counts AS l ON l.pid = d.pid AND l.collected_at = d.l_at AND l.analyte = 'lymphocytes'
    ANTI JOIN days_latest_pair AS s ON s.pid = d.pid AND s.day = d.day
)
SELECT
    pid,
    collected_at,
    nv AS neutrophils,
    lv AS lymphocytes,
    CASE
        WHEN nq IS NULL AND lq IS NULL AND lv > 0
            THEN round(nv / lv, getvariable('value_round_decimals'))
    END AS nlr
FROM day_pairs;
