-- The README's example (issue 10), runnable as it stands:
--   nelmtrack sql --db WAREHOUSE -- "$(cat report/sql/km_median_pfs_by_flags.sql)"
-- tests/test_report.py checks it against report.stats.kaplan_meier.
-- Kaplan–Meier median PFS (days) by number of negative prognostic flags at the first session.
-- A patient without progression (pfs_event = false) is censored: counted at risk until
-- pfs_days, never as an event. (median(pfs_days) would count censored times as if
-- progression had happened then, and understate the median.)
WITH t AS (
    SELECT f.n_negative_flags AS flags, b.pfs_days AS days, b.pfs_event AS event
    FROM session_flags f JOIN best_responses b USING (patient_key)
    WHERE f.session_number = 1 AND b.scope = 'course' AND b.criteria = 'RECIST1.1'
      AND b.pfs_days IS NOT NULL
),
steps AS (   -- events and patients leaving the risk set at each distinct time
    SELECT flags, days, count(*) FILTER (WHERE event) AS events, count(*) AS leaving
    FROM t GROUP BY ALL
),
km AS (      -- product-limit estimate S(t) after each time
    SELECT *, product(1 - events / at_risk) OVER (PARTITION BY flags ORDER BY days) AS surv
    FROM (SELECT *, sum(leaving) OVER (PARTITION BY flags ORDER BY days DESC) AS at_risk
          FROM steps)
)
-- The median is the first time S(t) < 0.5; where S(t) is exactly 0.5 over a step, the
-- midpoint of that step (as R's survival and report/stats.py); null: not reached.
SELECT flags AS n_negative_flags, sum(leaving) AS patients, sum(events) AS progressions,
       coalesce(
           (min(days) FILTER (WHERE abs(surv - 0.5) < 1e-9)
            + min(days) FILTER (WHERE surv < 0.5 - 1e-9)) / 2,
           CASE WHEN count(*) FILTER (WHERE abs(surv - 0.5) < 1e-9) = 0
                THEN min(days) FILTER (WHERE surv < 0.5 - 1e-9) END
       ) AS km_median_pfs_days
FROM km GROUP BY ALL ORDER BY ALL;
