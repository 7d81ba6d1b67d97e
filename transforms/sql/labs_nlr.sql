-- N1: NLR = absolute neutrophils / absolute lymphocytes drawn on the same
-- calendar day: the pair with the same collection time (the day's latest such
-- pair), else the day's last of each. Lymphocytes 0, a censored count or an
-- undecided reading (L4) give NLR NULL; the row is kept so that it still
-- counts as the draw of that day. Runs after labs_readings.
CREATE OR REPLACE TEMP TABLE nlr AS
WITH neutrophils AS (
    SELECT pid, collected_at, value, qualifier
    FROM lab_readings
    WHERE analyte = 'neutrophils'
),
lymphocytes AS (
    SELECT pid, collected_at, value, qualifier
    FROM lab_readings
    WHERE analyte = 'lymphocytes'
),
same_time_pairs AS (
    SELECT
        n.pid,
        n.collected_at::DATE AS day,
        arg_max(
            {'collected_at': n.collected_at, 'nv': n.value, 'nq': n.qualifier, 'lv': l.value, 'lq': l.qualifier},
            n.collected_at
        ) AS pair
    FROM neutrophils AS n
    JOIN lymphocytes AS l ON l.pid = n.pid AND l.collected_at = n.collected_at
    GROUP BY n.pid, n.collected_at::DATE
),
last_neutrophils AS (
    SELECT
        pid,
        collected_at::DATE AS day,
        arg_max({'t': collected_at, 'v': value, 'q': qualifier}, collected_at) AS last
    FROM neutrophils
    GROUP BY pid, collected_at::DATE
),
last_lymphocytes AS (
    SELECT
        pid,
        collected_at::DATE AS day,
        arg_max({'t': collected_at, 'v': value, 'q': qualifier}, collected_at) AS last
    FROM lymphocytes
    GROUP BY pid, collected_at::DATE
),
day_pairs AS (
    SELECT
        n.pid,
        coalesce(
            p.pair,
            {
                'collected_at': greatest(n.last.t, l.last.t),
                'nv': n.last.v, 'nq': n.last.q, 'lv': l.last.v, 'lq': l.last.q
            }
        ) AS pair
    FROM last_neutrophils AS n
    JOIN last_lymphocytes AS l ON l.pid = n.pid AND l.day = n.day
    LEFT JOIN same_time_pairs AS p ON p.pid = n.pid AND p.day = n.day
)
SELECT
    pid,
    pair.collected_at AS collected_at,
    pair.nv AS neutrophils,
    pair.lv AS lymphocytes,
    CASE
        WHEN pair.nq IS NULL AND pair.lq IS NULL AND pair.lv > 0
            THEN round(pair.nv / pair.lv, getvariable('value_round_decimals'))
    END AS nlr
FROM day_pairs;
SELECT
    p.patient_key::VARCHAR AS patient_key,
    n.collected_at::TIMESTAMP AS collected_at,
    n.neutrophils::DOUBLE AS neutrophils,
    n.lymphocytes::DOUBLE AS lymphocytes,
    n.nlr::DOUBLE AS nlr
FROM nlr AS n
JOIN patient_ids AS p ON p.pid = n.pid
ORDER BY p.patient_key, n.collected_at
