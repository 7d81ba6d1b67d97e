-- depends_on:
-- reads:
-- The L1/L3 lookup tables and the H1-H3 rules of config/labs.toml, as relations.
-- They arrive as variables (lists of structs, built by config.params.lab_params),
-- the one way parameters reach SQL.
CREATE OR REPLACE TEMP VIEW test_aliases AS
SELECT e.alias::VARCHAR AS alias, e.analyte::VARCHAR AS analyte
FROM (SELECT unnest(getvariable('lab_test_aliases')) AS e);

CREATE OR REPLACE TEMP VIEW unit_aliases AS
SELECT e.spelling::VARCHAR AS spelling, e.unit_family::VARCHAR AS unit_family
FROM (SELECT unnest(getvariable('lab_unit_aliases')) AS e);

CREATE OR REPLACE TEMP VIEW unit_conversions AS
SELECT
    e.analyte::VARCHAR AS analyte, e.unit_family::VARCHAR AS unit_family,
    e.multiply::DOUBLE AS multiply, e.divide::DOUBLE AS divide
FROM (SELECT unnest(getvariable('lab_unit_conversions')) AS e);

CREATE OR REPLACE TEMP VIEW analytes AS
SELECT
    e.analyte::VARCHAR AS analyte, e.canonical_unit::VARCHAR AS canonical_unit,
    e.physiological_min::DOUBLE AS physiological_min,
    e.physiological_max::DOUBLE AS physiological_max
FROM (SELECT unnest(getvariable('lab_analytes')) AS e);

CREATE OR REPLACE TEMP VIEW modality_hint_rules AS
SELECT e.rule_id::VARCHAR AS rule_id, e.hint::VARCHAR AS hint, e.reason::VARCHAR AS reason
FROM (SELECT unnest(getvariable('lab_modality_hint_rules')) AS e)
