-- Frame of suite inputs.labs: one row per raw labs row. Test names, unit
-- spellings, conversions and physiological ranges come from [labs] (L1-L3).
CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH parsed AS (
    SELECT
        *,
        as_timestamp(collected_at) AS collected_ts,
        lower(regexp_replace(trim(test), '\s+', ' ', 'g')) AS test_key,
        replace(replace(replace(lower(regexp_replace(unit, '\s+', '', 'g')), 'µ', 'u'), 'μ', 'u'), '×', 'x')
            AS unit_key,
        coalesce(
            as_number(value),
            try_cast(regexp_extract(
                trim(value),
                '^(<=|>=|≤|≥|<|>)\s*([+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)$', 2
            ) AS DOUBLE)
        ) AS number,
        row_number() OVER (
            PARTITION BY txt(patient_key), txt(collected_at), txt(test), txt(value), txt(unit)
            ORDER BY source_file, source_row
        ) AS copy_number
    FROM in_labs
),
classified AS (
    SELECT
        p.*,
        ta.analyte,
        a.physiological_min,
        a.physiological_max,
        uc.multiply,
        uc.divide
    FROM parsed AS p
    LEFT JOIN ref_test_aliases AS ta ON ta.alias = p.test_key
    LEFT JOIN ref_analytes AS a ON a.analyte = ta.analyte
    LEFT JOIN ref_unit_aliases AS ua ON ua.spelling = p.unit_key
    LEFT JOIN ref_unit_conversions AS uc ON uc.analyte = ta.analyte AND uc.unit_family = ua.unit_family
)
SELECT
    txt(c.patient_key) AS patient_key,
    given(c.patient_key) AS patient_key_given,
    given(c.collected_at) AS collected_at_given,
    given(c.test) AS test_given,
    given(c.value) AS value_given,
    given(c.unit) AS unit_given,
    c.copy_number > 1 AS is_duplicate_row,
    readable(c.collected_at, c.collected_ts) AS collected_at_readable,
    CASE WHEN given(c.test) THEN c.analyte IS NOT NULL END AS test_recognised,
    CASE WHEN c.analyte IS NOT NULL AND given(c.value) THEN c.number IS NOT NULL END AS value_readable,
    CASE WHEN c.analyte IS NOT NULL AND given(c.unit) THEN c.multiply IS NOT NULL END AS unit_convertible,
    CASE WHEN c.number IS NOT NULL AND c.multiply IS NOT NULL THEN
        c.number * c.multiply / c.divide BETWEEN c.physiological_min AND c.physiological_max
    END AS value_in_physiological_range,
    not_future(c.collected_ts) AS collected_at_not_in_future,
    CASE WHEN given(c.patient_key) THEN p.patient_key IS NOT NULL END AS patient_known
FROM classified AS c
LEFT JOIN in_patients_once AS p ON p.patient_key = txt(c.patient_key);
