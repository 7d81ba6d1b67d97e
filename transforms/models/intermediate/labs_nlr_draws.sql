-- depends_on: labs_readings
-- reads:
-- N1: NLR = absolute neutrophils / absolute lymphocytes drawn on the same
-- calendar day: the pair with the same collection time (the day's latest such
-- pair), else the day's last of each. Lymphocytes 0, a censored count or an
-- undecided reading (L4) give NLR NULL; the row is kept so that it still
-- counts as the draw of that day. Runs after labs_readings.
CREATE OR REPLACE TEMP TABLE labs_nlr_draws AS
WITH counts AS (
    SELECT pid, collected_at, collected_at::DATE AS day, analyte, value, qualifier
    FROM lab_readings
    WHERE analyte IN ('neutrophils', 'lymphocytes')
),
same_time_pairs AS (
    SELECT
        n.pid,
        n.day,
        arg_max(
            {'collected_at': n.collected_at, 'nv': n.value, 'nq': n.qualifier, 'lv': l.value, 'lq': l.qualifier},
            n.collected_at
        ) AS pair
    FROM counts AS n
    JOIN counts AS l
        ON l.pid = n.pid AND l.collected_at = n.collected_at AND l.analyte = 'lymphocytes'
    WHERE n.analyte = 'neutrophils'
    GROUP BY n.pid, n.day
),
days_last AS (
    SELECT
        pid,
        day,
        arg_max({'t': collected_at, 'v': value, 'q': qualifier}, collected_at)
            FILTER (WHERE analyte = 'neutrophils') AS n,
        arg_max({'t': collected_at, 'v': value, 'q': qualifier}, collected_at)
            FILTER (WHERE analyte = 'lymphocytes') AS l
    FROM counts
    GROUP BY pid, day
),
day_pairs AS (
    SELECT
        d.pid,
        coalesce(
            p.pair,
            {'collected_at': greatest(d.n.t, d.l.t), 'nv': d.n.v, 'nq': d.n.q, 'lv': d.l.v, 'lq': d.l.q}
        ) AS pair
    FROM days_last AS d
    LEFT JOIN same_time_pairs AS p ON p.pid = d.pid AND p.day = d.day
    WHERE d.n IS NOT NULL AND d.l IS NOT NULL
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
