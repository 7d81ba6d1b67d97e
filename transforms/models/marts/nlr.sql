-- depends_on: labs_nlr_draws, patient_ids
-- reads:
-- nlr (warehouse contract) without run_id: one row per NLR draw (N1).
SELECT
    p.patient_key::VARCHAR AS patient_key,
    n.collected_at::TIMESTAMP AS collected_at,
    n.neutrophils::DOUBLE AS neutrophils,
    n.lymphocytes::DOUBLE AS lymphocytes,
    n.nlr::DOUBLE AS nlr
FROM labs_nlr_draws AS n
JOIN patient_ids AS p ON p.pid = n.pid
ORDER BY p.patient_key, n.collected_at
