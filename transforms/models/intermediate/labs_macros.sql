-- depends_on:
-- reads:
-- L2: comparisons of a possibly censored lab value with a threshold, in
-- three-valued logic. A value v with qualifier q stands for an interval
-- ('<' v: below v, '>=' v: v or above, no qualifier: exactly v); the answer is
-- true or false only when every value of the interval gives the same answer,
-- otherwise NULL, and NULL when the value itself is unknown (L4 disagreement).
CREATE OR REPLACE TEMP MACRO lab_ge(v, q, t) AS CASE
    WHEN v IS NULL THEN NULL
    WHEN q IS NULL THEN v >= t
    WHEN q IN ('>', '>=') AND v >= t THEN TRUE
    WHEN q = '<' AND v <= t THEN FALSE
    WHEN q = '<=' AND v < t THEN FALSE
END;
CREATE OR REPLACE TEMP MACRO lab_gt(v, q, t) AS CASE
    WHEN v IS NULL THEN NULL
    WHEN q IS NULL THEN v > t
    WHEN q = '>' AND v >= t THEN TRUE
    WHEN q = '>=' AND v > t THEN TRUE
    WHEN q IN ('<', '<=') AND v <= t THEN FALSE
END;
-- G1-G9: a criterion that holds passes, one that does not fails, unknown is missing.
CREATE OR REPLACE TEMP MACRO criterion(ok) AS CASE
    WHEN ok THEN 'pass'
    WHEN NOT ok THEN 'fail'
    ELSE 'missing'
END
