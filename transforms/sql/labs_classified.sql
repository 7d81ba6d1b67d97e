-- L1-L3: recognise the test, read the (possibly censored) value, convert the
-- unit exactly once, and decide which rows go to the quarantine.
-- Inputs: labs_staged (staged labs rows), test_aliases(alias, analyte),
-- unit_aliases(spelling, unit_family), unit_conversions(analyte, unit_family,
-- multiply, divide), analytes(analyte, canonical_unit, physiological_min,
-- physiological_max).
CREATE OR REPLACE TEMP TABLE labs_classified AS
WITH keyed AS (
    SELECT
        l.*,
        lower(regexp_replace(trim(l.test), '\s+', ' ', 'g')) AS test_key,
        replace(replace(replace(lower(regexp_replace(l.unit, '\s+', '', 'g')), 'µ', 'u'), 'μ', 'u'), '×', 'x') AS unit_key,
        regexp_extract(
            trim(l.value),
            '^(<=|>=|≤|≥|<|>)?\s*([+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)$',
            ['qualifier', 'number']
        ) AS parsed
    FROM labs_staged AS l
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
        ua.unit_family
    FROM keyed AS k
    LEFT JOIN test_aliases AS ta ON ta.alias = k.test_key
    LEFT JOIN unit_aliases AS ua ON ua.spelling = k.unit_key
),
converted AS (
    SELECT
        r.*,
        a.canonical_unit,
        a.physiological_min,
        a.physiological_max,
        uc.unit_family IS NOT NULL AS unit_convertible,
        round(r.number * uc.multiply / uc.divide, getvariable('value_round_decimals')) AS canonical_value
    FROM recognised AS r
    LEFT JOIN analytes AS a ON a.analyte = r.known_analyte
    LEFT JOIN unit_conversions AS uc
        ON uc.analyte = r.known_analyte AND uc.unit_family = r.unit_family
)
SELECT
    patient_key,
    collected_at,
    collected_has_time,
    coalesce(known_analyte, lower(trim(test))) AS analyte,
    CASE WHEN known_analyte IS NULL THEN number ELSE canonical_value END AS value,
    CASE WHEN known_analyte IS NULL THEN unit ELSE canonical_unit END AS unit,
    qualifier,
    value AS value_raw,
    unit AS unit_raw,
    test AS test_raw,
    source_file,
    source_row,
    CASE
        WHEN known_analyte IS NULL THEN NULL
        WHEN number IS NULL THEN 'bad_number'
        WHEN NOT unit_convertible THEN 'unknown_unit'
        WHEN canonical_value NOT BETWEEN physiological_min AND physiological_max THEN 'out_of_range'
    END AS reason_code,
    CASE
        WHEN known_analyte IS NULL THEN NULL
        WHEN number IS NULL THEN
            known_analyte || ': value is neither a number nor a censored number such as <0.2'
        WHEN NOT unit_convertible THEN
            known_analyte || ': unit cannot be converted to ' || canonical_unit
        WHEN canonical_value NOT BETWEEN physiological_min AND physiological_max THEN
            known_analyte || ': value ' || printf('%g', canonical_value) || ' ' || canonical_unit
            || ' is outside the physiological range ' || printf('%g', physiological_min) || '-'
            || printf('%g', physiological_max) || ' ' || canonical_unit
    END AS reason
FROM converted
