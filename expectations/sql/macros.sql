-- Parsing helpers of the data-quality frames. They follow the input contract
-- (ISO dates, booleans from the [ingest.booleans] spellings, vocabulary codes
-- lower-cased with spaces/dashes folded to "_") but are written independently
-- of transforms/, so a parsing bug there shows up as a disagreement here.
-- A readability flag is NULL when the text is empty: emptiness is a separate
-- completeness check, and GX skips NULLs in the frames.
CREATE OR REPLACE TEMP MACRO txt(x) AS nullif(trim(x), '');
CREATE OR REPLACE TEMP MACRO given(x) AS txt(x) IS NOT NULL;
CREATE OR REPLACE TEMP MACRO as_date(x) AS
    try_strptime(txt(x), ['%Y-%m-%d', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M:%S'])::DATE;
CREATE OR REPLACE TEMP MACRO as_timestamp(x) AS
    try_strptime(txt(x), ['%Y-%m-%d', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%dT%H:%M', '%Y-%m-%d %H:%M:%S',
                          '%Y-%m-%d %H:%M', '%Y-%m-%dT%H:%M:%S.%f', '%Y-%m-%d %H:%M:%S.%f',
                          '%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S.%fZ']);
CREATE OR REPLACE TEMP MACRO as_number(x) AS
    CASE WHEN isfinite(try_cast(txt(x) AS DOUBLE)) THEN try_cast(txt(x) AS DOUBLE) END;
CREATE OR REPLACE TEMP MACRO readable(x, parsed) AS CASE WHEN given(x) THEN parsed IS NOT NULL END;
CREATE OR REPLACE TEMP MACRO code(x) AS
    trim(regexp_replace(lower(txt(x)), '[\s_\-]+', '_', 'g'), '_');
CREATE OR REPLACE TEMP MACRO folded(x) AS
    trim(regexp_replace(lower(txt(x)), '[\s_\-]+', ' ', 'g'));
CREATE OR REPLACE TEMP MACRO spelling(x) AS lower(txt(x));
-- "Not in the future": later than the day the checks run.
CREATE OR REPLACE TEMP MACRO not_future(d) AS CASE WHEN d IS NOT NULL THEN d::DATE <= current_date END;
-- RECIST size of a lesion row (R2): nodes by short axis, others by longest diameter.
CREATE OR REPLACE TEMP MACRO has_size(status, is_nodal, longest, short_axis) AS
    status IN ('too_small', 'absent', 'coalesced')
    OR (status = 'measured' AND (CASE WHEN is_nodal THEN short_axis ELSE longest END) IS NOT NULL);
