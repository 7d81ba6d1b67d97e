-- Parsing helpers shared by the staging models. Text is trimmed and an empty
-- string means "not given"; a value that does not parse becomes NULL, and the
-- checks compare it with its text to tell "empty" from "unreadable". Staging runs on
-- the build connection, beside other stages' macros: every name here starts with stg_.
CREATE OR REPLACE TEMP MACRO stg_txt(x) AS nullif(trim(x), '');
-- ISO 8601 (DuckDB's own cast: YYYY-MM-DD, optionally with a time after a space or T).
-- A time followed by a zone (Z, an offset such as +02:00, -0500 or +02, or a zone name
-- such as UTC or Europe/Paris) is converted to the site's local time
-- (getvariable('site_timezone'), config ingest.timezone) and stored without a zone; a
-- time without a zone is already local. A zone DuckDB cannot read makes the value
-- unreadable (bad_date): a zone is never dropped.
CREATE OR REPLACE TEMP MACRO stg_has_zone(x) AS
    regexp_matches(stg_txt(x), '\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?|[A-Za-z][A-Za-z0-9_/+-]*)$');
CREATE OR REPLACE TEMP MACRO stg_as_timestamp(x) AS
    CASE WHEN stg_has_zone(x)
         THEN timezone(getvariable('site_timezone'), try_cast(stg_txt(x) AS TIMESTAMPTZ))
         ELSE try_cast(stg_txt(x) AS TIMESTAMP) END;
CREATE OR REPLACE TEMP MACRO stg_as_date(x) AS
    CASE WHEN stg_has_zone(x) THEN stg_as_timestamp(x)::DATE
         ELSE coalesce(try_cast(stg_txt(x) AS DATE), try_cast(stg_txt(x) AS TIMESTAMP)::DATE) END;
CREATE OR REPLACE TEMP MACRO stg_as_double(x) AS
    CASE WHEN isfinite(try_cast(stg_txt(x) AS DOUBLE)) THEN try_cast(stg_txt(x) AS DOUBLE) END;
-- Diameters are exact decimals (response-criteria R2) rounded ONCE, from the text, half
-- away from zero to the contract's precision: the text-to-DECIMAL cast does exactly that
-- (a cast to 3 places and then a round would turn 50.0499 into 50.050, then 50.1).
-- The warehouse stores DECIMAL(10, 1), so diameter_scale may be 0 or 1.
CREATE OR REPLACE TEMP MACRO stg_as_mm(x) AS
    CASE getvariable('diameter_scale')
        WHEN 1 THEN try_cast(stg_txt(x) AS DECIMAL(16, 1))
        WHEN 0 THEN try_cast(stg_txt(x) AS DECIMAL(15, 0))
        ELSE error('ingest.diameter_scale must be 0 or 1 (diameters are stored as DECIMAL(10, 1))')
    END::DECIMAL(10, 1);
CREATE OR REPLACE TEMP MACRO stg_as_bool(x) AS
    CASE WHEN list_contains(getvariable('bool_true'), lower(stg_txt(x))) THEN TRUE
         WHEN list_contains(getvariable('bool_false'), lower(stg_txt(x))) THEN FALSE END;
-- Lower-case, with runs of spaces, dashes and underscores folded to one space.
CREATE OR REPLACE TEMP MACRO stg_folded(x) AS
    trim(regexp_replace(lower(stg_txt(x)), '[\s_\-]+', ' ', 'g'));
-- A Couinaud segment: a number, or a spelling of config [ingest.segment_aliases]
-- (Roman numerals, the sub-segments 4a/4b, IVa/IVb), looked up lower-cased.
CREATE OR REPLACE TEMP MACRO stg_segment_alias(x) AS
    getvariable('segment_alias_to')[list_position(getvariable('segment_alias_from'), lower(trim(x)))];
CREATE OR REPLACE TEMP MACRO stg_as_segment(x) AS coalesce(stg_segment_alias(stg_txt(x)), stg_as_double(x))
