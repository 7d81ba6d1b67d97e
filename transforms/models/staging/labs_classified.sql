-- depends_on: lab_lookups
-- reads: in_labs_staged
-- L1-L3: recognise the test, read the (possibly censored) value, convert the
-- unit exactly once, and decide which rows go to the quarantine.
-- Inputs: labs_staged (staged labs rows), test_aliases(alias, analyte),
-- unit_aliases(spelling, unit_family), unit_conversions(analyte, unit_family,
-- multiply, divide), analytes(analyte, canonical_unit, physiological_min,
-- physiological_max).
-- Every result but the lineage depends on the reading (test, value, unit) alone,
-- and a cohort has few distinct readings (3.7 M lab rows of 20,000 patients hold
-- under 6,000): the table labs_reading_classes holds each reading once,
-- classified, so the regular expressions run per reading, not per row.
-- labs_classified, the rows with their reading's class, is a view: the stage
-- reads it once, as it loads lab_results, so the rows (18.8 M at 100,000
-- patients) are not copied into a table first.
CREATE OR REPLACE TEMP TABLE labs_reading_classes AS
WITH readings AS (
    SELECT DISTINCT test, value, unit FROM in_labs_staged
),
keyed AS (
    SELECT
        l.*,
        lower(regexp_replace(trim(l.test), '\s+', ' ', 'g')) AS test_key,
        -- L1: white space removed, µ (micro sign) and μ (Greek mu) written u, × written x,
        -- superscript ³ and ⁹ written ^3 and ^9; unit_key is also lower-cased. A spelling
        -- with capitals in unit_aliases matches its exact case only (G/L is 10^9/L); the
        -- lower-case spellings match in any case (G/L is also g/L). Of the two, the one
        -- the analyte converts from is used, the exact one first: G/L is 10^9/L for a
        -- count and g/L for albumin, as no other reading makes sense for either.
        replace(replace(replace(replace(replace(regexp_replace(l.unit, '\s+', '', 'g'),
            'µ', 'u'), 'μ', 'u'), '×', 'x'), '³', '^3'), '⁹', '^9') AS unit_key_cased,
        lower(unit_key_cased) AS unit_key,
        regexp_extract(
            trim(l.value),
            '^(<=|>=|≤|≥|<|>)?\s*([+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)$',
            ['qualifier', 'number']
        ) AS parsed
    FROM readings AS l
),
recognised AS (
    SELECT
        k.*,
        ta.analyte AS known_analyte,
        CASE k.parsed.qualifier
            WHEN '' THEN NULL
            WHEN '≤' THEN '<='
            WHEN '≥' THEN '>='
            ELSE k.parsed.qualifier
        END AS qualifier,
        TRY_CAST(nullif(k.parsed.number, '') AS DOUBLE) AS number,
        ue.unit_family AS unit_family_exact,
        ua.unit_family AS unit_family_any
    FROM keyed AS k
    LEFT JOIN test_aliases AS ta ON ta.alias = k.test_key
    LEFT JOIN unit_aliases AS ue ON ue.spelling = k.unit_key_cased
    LEFT JOIN unit_aliases AS ua ON ua.spelling = k.unit_key
),
converted AS (
    SELECT
        r.*,
        a.canonical_unit,
        a.physiological_min,
        a.physiological_max,
        coalesce(ucx.unit_family, uca.unit_family) IS NOT NULL AS unit_convertible,
        round(r.number * coalesce(ucx.multiply, uca.multiply) / coalesce(ucx.divide, uca.divide),
              getvariable('value_round_decimals')) AS canonical_value
    FROM recognised AS r
    LEFT JOIN analytes AS a ON a.analyte = r.known_analyte
    LEFT JOIN unit_conversions AS ucx
        ON ucx.analyte = r.known_analyte AND ucx.unit_family = r.unit_family_exact
    LEFT JOIN unit_conversions AS uca
        ON uca.analyte = r.known_analyte AND uca.unit_family = r.unit_family_any
),
classified AS (
    SELECT
        test AS reading_test,
        value AS reading_value,
        unit AS reading_unit,
        coalesce(known_analyte, lower(trim(test))) AS analyte,
        CASE WHEN known_analyte IS NULL THEN number ELSE canonical_value END AS value,
        CASE WHEN known_analyte IS NULL THEN unit ELSE canonical_unit END AS unit,
        qualifier,
        CASE
            WHEN known_analyte IS NULL THEN NULL
            WHEN number IS NULL THEN 'bad_number'
            WHEN NOT unit_convertible THEN 'unknown_unit'
            WHEN canonical_value NOT BETWEEN physiological_min AND physiological_max THEN 'out_of_range'
        END AS reason_code,
        CASE
            WHEN known_analyte IS NULL THEN NULL
            WHEN number IS NULL THEN 'value'
            WHEN NOT unit_convertible THEN 'unit'
            WHEN canonical_value NOT BETWEEN physiological_min AND physiological_max THEN 'value'
        END AS column_name,
        CASE
            WHEN known_analyte IS NULL THEN NULL
            WHEN number IS NULL THEN
                known_analyte || ': value is neither a number nor a censored number such as <0.2'
            WHEN NOT unit_convertible THEN
                known_analyte || ': unit cannot be converted to ' || canonical_unit
            WHEN canonical_value NOT BETWEEN physiological_min AND physiological_max THEN
                known_analyte || ': value is outside the physiological range '
                || printf('%g', physiological_min) || '-' || printf('%g', physiological_max) || ' '
                || canonical_unit
        END AS reason
    FROM converted
)
SELECT * FROM classified;

CREATE OR REPLACE TEMP VIEW labs_classified AS
SELECT
    l.patient_key, l.collected_at, l.collected_has_time,
    c.analyte, c.value, c.unit, c.qualifier,
    l.value AS value_raw, l.unit AS unit_raw, l.test AS test_raw,
    l.source_file, l.source_row,
    c.reason_code, c.column_name, c.reason
FROM in_labs_staged AS l
JOIN labs_reading_classes AS c
    ON c.reading_test IS NOT DISTINCT FROM l.test
   AND c.reading_value IS NOT DISTINCT FROM l.value
   AND c.reading_unit IS NOT DISTINCT FROM l.unit
