-- Parsing helpers of the data-quality frames. They follow the input contract
-- (ISO dates, booleans from the [ingest.booleans] spellings, vocabulary codes
-- lower-cased with spaces/dashes folded to "_") but are written independently
-- of transforms/, so a parsing bug there shows up as a disagreement here.
-- A readability flag is NULL when the text is empty: emptiness is a separate
-- completeness check, and GX skips NULLs in the frames.
CREATE OR REPLACE TEMP MACRO dq_txt(x) AS nullif(trim(x), '');
-- Cheap for long values (patient keys, timestamps): trim only a value that starts
-- with a space (a CASE, because DuckDB may reorder the terms of an OR).
CREATE OR REPLACE TEMP MACRO dq_given(x) AS
    CASE WHEN x IS NULL OR x = '' THEN FALSE WHEN starts_with(x, ' ') THEN trim(x) <> '' ELSE TRUE END;
-- ISO dates and date-times (the prefix YYYY-MM-DD), converted by DuckDB's
-- cast, which ignores surrounding spaces: try_strptime with a list of formats
-- costs ~10 s per million rows, this ~0.1 s.
CREATE OR REPLACE TEMP MACRO dq_iso_like(x) AS x LIKE '____-__-__%' OR starts_with(x, ' ');
CREATE OR REPLACE TEMP MACRO dq_as_date(x) AS
    CASE WHEN dq_iso_like(x) THEN try_cast(x AS TIMESTAMP)::DATE END;
CREATE OR REPLACE TEMP MACRO dq_as_timestamp(x) AS
    CASE WHEN dq_iso_like(x) THEN try_cast(x AS TIMESTAMP) END;
CREATE OR REPLACE TEMP MACRO dq_as_number(x) AS
    CASE WHEN isfinite(try_cast(x AS DOUBLE)) THEN try_cast(x AS DOUBLE) END;
CREATE OR REPLACE TEMP MACRO dq_readable(x, parsed) AS CASE WHEN dq_given(x) THEN parsed IS NOT NULL END;
CREATE OR REPLACE TEMP MACRO dq_code(x) AS
    trim(regexp_replace(lower(dq_txt(x)), '[\s_\-]+', '_', 'g'), '_');
CREATE OR REPLACE TEMP MACRO dq_folded(x) AS
    trim(regexp_replace(lower(dq_txt(x)), '[\s_\-]+', ' ', 'g'));
CREATE OR REPLACE TEMP MACRO dq_spelling(x) AS lower(dq_txt(x));
-- "Not in the future": later than the day the checks run.
CREATE OR REPLACE TEMP MACRO dq_not_future(d) AS CASE WHEN d IS NOT NULL THEN d::DATE <= current_date END;
-- RECIST size of a lesion row (R2): nodes by short axis, others by longest diameter.
CREATE OR REPLACE TEMP MACRO dq_has_size(status, is_nodal, longest, short_axis) AS
    status IN ('too_small', 'absent', 'coalesced')
    OR (status = 'measured' AND (CASE WHEN is_nodal THEN short_axis ELSE longest END) IS NOT NULL);
-- A raw patient key (already pseudonymised by sources/, so never padded): NULL when missing.
CREATE OR REPLACE TEMP MACRO dq_key_of(x) AS CASE WHEN dq_given(x) THEN x END;
