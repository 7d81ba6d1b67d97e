-- Frame of suite inputs.labs: one row per raw labs row. Test names, unit
-- spellings, conversions and physiological ranges come from [labs] (L1-L3);
-- the few distinct spellings are looked up once each, not once per row.
CREATE OR REPLACE TEMP TABLE dq_in_lab_tests AS
SELECT t.test, a.analyte, a.physiological_min, a.physiological_max
FROM (SELECT DISTINCT test FROM dq_raw_labs WHERE test IS NOT NULL) AS t
LEFT JOIN dq_ref_test_aliases AS ta ON ta.alias = lower(regexp_replace(trim(t.test), '\s+', ' ', 'g'))
LEFT JOIN dq_ref_analytes AS a ON a.analyte = ta.analyte;

-- A spelling is read as written (a key with capitals such as G/L) and lower-cased;
-- a row's unit is convertible when either reading converts for its analyte.
CREATE OR REPLACE TEMP TABLE dq_in_lab_units AS
WITH spelled AS (
    SELECT unit, replace(replace(replace(replace(replace(regexp_replace(unit, '\s+', '', 'g'),
        'µ', 'u'), 'μ', 'u'), '×', 'x'), '³', '^3'), '⁹', '^9') AS as_written
    FROM (SELECT DISTINCT unit FROM dq_raw_labs WHERE unit IS NOT NULL)
)
SELECT s.unit, ue.unit_family AS family_as_written, ua.unit_family
FROM spelled AS s
LEFT JOIN dq_ref_unit_aliases AS ue ON ue.spelling = s.as_written
LEFT JOIN dq_ref_unit_aliases AS ua ON ua.spelling = lower(s.as_written);

-- Identical rows, among the rows sharing a hash (as in inputs_patients.sql).
CREATE OR REPLACE TEMP TABLE dq_in_lab_copies AS
WITH hashed AS (
    SELECT *, hash(dq_row) AS row_hash FROM dq_raw_labs
)
SELECT source_file, source_row
FROM (
    SELECT
        source_file, source_row,
        row_number() OVER (PARTITION BY dq_row ORDER BY source_file, source_row) AS copy_number
    FROM hashed
    WHERE row_hash IN (SELECT row_hash FROM hashed GROUP BY row_hash HAVING count(*) > 1)
)
WHERE copy_number > 1;

CREATE OR REPLACE TEMP VIEW dq_frame AS
WITH parsed AS (
    SELECT
        *,
        dq_as_timestamp(collected_at) AS collected_ts,
        coalesce(
            dq_as_number(value),
            try_cast(regexp_extract(
                trim(value),
                '^(<=|>=|≤|≥|<|>)\s*([+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)$', 2
            ) AS DOUBLE)
        ) AS number
    FROM dq_raw_labs
)
SELECT
    dq_key_of(c.patient_key) AS patient_key,
    dq_given(c.patient_key) AS patient_key_given,
    dq_given(c.collected_at) AS collected_at_given,
    dq_given(c.test) AS test_given,
    dq_given(c.value) AS value_given,
    dq_given(c.unit) AS unit_given,
    k.source_row IS NOT NULL AS is_duplicate_row,
    dq_readable(c.collected_at, c.collected_ts) AS collected_at_readable,
    CASE WHEN dq_given(c.test) THEN t.analyte IS NOT NULL END AS test_recognised,
    CASE WHEN t.analyte IS NOT NULL AND dq_given(c.value) THEN c.number IS NOT NULL END AS value_readable,
    CASE WHEN t.analyte IS NOT NULL AND dq_given(c.unit) THEN coalesce(ucw.multiply, uc.multiply) IS NOT NULL
    END AS unit_convertible,
    CASE WHEN c.number IS NOT NULL AND coalesce(ucw.multiply, uc.multiply) IS NOT NULL THEN
        c.number * coalesce(ucw.multiply, uc.multiply) / coalesce(ucw.divide, uc.divide)
            BETWEEN t.physiological_min AND t.physiological_max
    END AS value_in_physiological_range,
    dq_not_future(c.collected_ts) AS collected_at_not_in_future,
    CASE WHEN dq_given(c.patient_key) THEN p.patient_key IS NOT NULL END AS patient_known
FROM parsed AS c
LEFT JOIN dq_in_lab_tests AS t ON t.test = c.test
LEFT JOIN dq_in_lab_units AS u ON u.unit = c.unit
LEFT JOIN dq_ref_unit_conversions AS ucw
    ON ucw.analyte = t.analyte AND ucw.unit_family = u.family_as_written
LEFT JOIN dq_ref_unit_conversions AS uc ON uc.analyte = t.analyte AND uc.unit_family = u.unit_family
LEFT JOIN dq_in_patients_once AS p ON p.patient_key = dq_key_of(c.patient_key)
LEFT JOIN dq_in_lab_copies AS k ON k.source_file = c.source_file AND k.source_row = c.source_row;
