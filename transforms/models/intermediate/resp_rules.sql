-- depends_on:
-- reads:
-- Rules as data (response-criteria R2-R15, M1-M6, A1-A4, C1-C5): the criteria share
-- one engine and differ only in the values of their row here: the measure of a
-- target (`measure`: longest diameter, viable diameter, or the enhancing
-- cross-product in mm2; resp_target_size), the PD thresholds (absolute increase,
-- fraction of the nadir, whether the fraction must be exceeded strictly), the PR
-- fraction of the baseline sum, an optional density rule (the PR fraction of the
-- baseline mean attenuation, C1/C2/C4), whether a non-enhancing non-target counts
-- as resolved, and the rule ids the reasons quote. Every number comes from
-- config/response.toml. Adding a criteria means adding a row here (and, for a new
-- measure, its size expression). resp_criteria keeps the rows enabled by the
-- config parameter `criteria`; resp_criteria_all names every known criteria.
CREATE OR REPLACE TEMP TABLE resp_criteria_all AS
SELECT * FROM (VALUES
    ('RECIST1.1', 'longest', 'longest diameter', 'mm', 'mm', FALSE,
     getvariable('recist_pd_min_increase_mm')::DECIMAL(18, 3),
     getvariable('recist_pd_min_fraction_of_nadir')::DECIMAL(9, 4), FALSE,
     getvariable('recist_pr_max_fraction_of_baseline')::DECIMAL(9, 4),
     NULL::DECIMAL(9, 4),
     'R5', 'R7', 'R8', 'R9', 'R10', 'R15'),
    ('mRECIST', 'viable', 'viable diameter', 'mm', 'mm', TRUE,
     getvariable('mrecist_pd_min_increase_mm')::DECIMAL(18, 3),
     getvariable('mrecist_pd_min_fraction_of_nadir')::DECIMAL(9, 4), FALSE,
     getvariable('mrecist_pr_max_fraction_of_baseline')::DECIMAL(9, 4),
     NULL::DECIMAL(9, 4),
     'M2', 'M3', 'M3', 'M3', 'M4', 'M6'),
    ('EASL', 'area', 'enhancing cross-product', 'mm2', 'mm²', TRUE,
     getvariable('easl_pd_min_increase_mm2')::DECIMAL(18, 3),
     getvariable('easl_pd_above_fraction_of_nadir')::DECIMAL(9, 4), TRUE,
     getvariable('easl_pr_max_fraction_of_baseline')::DECIMAL(9, 4),
     NULL::DECIMAL(9, 4),
     'A2', 'A3', 'A3', 'A3', 'A4', 'A4'),
    ('Choi', 'longest', 'longest diameter', 'mm', 'mm', FALSE,
     getvariable('choi_pd_min_increase_mm')::DECIMAL(18, 3),
     getvariable('choi_pd_min_fraction_of_nadir')::DECIMAL(9, 4), FALSE,
     getvariable('choi_pr_max_fraction_of_baseline')::DECIMAL(9, 4),
     getvariable('choi_density_pr_max_fraction_of_baseline')::DECIMAL(9, 4),
     'C2', 'C3', 'C4', 'C5', 'C3', 'R15')
) AS t(criteria, measure, non_nodal_measure, sum_unit, unit_text, non_enhancing_resolved,
       pd_min_increase_mm, pd_min_fraction_of_nadir, pd_fraction_strict,
       pr_max_fraction_of_baseline, density_pr_max_fraction_of_baseline,
       pd_rule, cr_rule, pr_rule, sd_rule, nontarget_cr_rule, reappearance_rule);

CREATE OR REPLACE TEMP TABLE resp_criteria AS
SELECT * FROM resp_criteria_all WHERE list_contains(getvariable('criteria'), criteria);

-- A criteria name the engine does not know would silently give no rows; stop instead.
SELECT error(
    'response.criteria: unknown criteria ' || string_agg(name, ', ' ORDER BY name)
    || ' (known: ' || (SELECT string_agg(criteria, ', ') FROM resp_criteria_all) || ')')
FROM (SELECT unnest(getvariable('criteria')) AS name)
WHERE name NOT IN (SELECT criteria FROM resp_criteria_all)
HAVING count(*) > 0;

-- The measures the enabled criteria read beyond the longest and viable diameters:
-- the enhancing cross-product (EASL) and the attenuation (Choi) are looked up only
-- when some criteria reads them, so the default setting does no extra work.
SET VARIABLE resp_reads_area = (SELECT coalesce(bool_or(measure = 'area'), FALSE) FROM resp_criteria);
SET VARIABLE resp_reads_density = (
    SELECT coalesce(bool_or(density_pr_max_fraction_of_baseline IS NOT NULL), FALSE)
    FROM resp_criteria
);

-- R2/M1: size of one fragment. absent and coalesced count 0 mm, too_small the
-- configured size, not_evaluated has none; otherwise the measure (which may be missing).
CREATE OR REPLACE TEMP MACRO resp_fragment_size(status, measure) AS
    CASE WHEN status IN ('absent', 'coalesced') THEN 0::DECIMAL(18, 3)
         WHEN status = 'too_small' THEN getvariable('too_small_mm')::DECIMAL(18, 3)
         WHEN status = 'not_evaluated' THEN NULL
         ELSE measure::DECIMAL(18, 3) END;

-- A1: the enhancing cross-product of one fragment (mm2): viable diameter x its
-- perpendicular; absent and coalesced, or a viable diameter of 0, count 0 mm2,
-- too_small the square of the configured size, not_evaluated has none. A product
-- is rounded once to 0.1 mm2 (half away from zero), the precision the tables
-- show, so the sums and percentages published agree exactly.
CREATE OR REPLACE TEMP MACRO resp_fragment_area(status, viable, perpendicular) AS
    CASE WHEN status IN ('absent', 'coalesced') THEN 0::DECIMAL(18, 3)
         WHEN status = 'too_small'
             THEN (getvariable('too_small_mm')::DECIMAL(18, 3) ** 2)::DECIMAL(18, 3)
         WHEN status = 'not_evaluated' THEN NULL
         WHEN viable = 0 THEN 0::DECIMAL(18, 3)
         ELSE round(viable::DECIMAL(18, 3) * perpendicular::DECIMAL(18, 3), 1)::DECIMAL(18, 3) END;

-- R2/M1/A1: size of a target at a study under a criteria's measure: a node's
-- short axis (its square for the cross-product, A1), otherwise the non-nodal
-- measure. The sums are kept for each measure (resp_scope_sums);
-- resp_by_measure picks the one a criteria reads (resp_criteria.measure).
CREATE OR REPLACE TEMP MACRO resp_target_size(is_nodal, short_mm, longest_mm, viable_mm, area_mm2, measure) AS
    CASE WHEN measure = 'area' THEN
             CASE WHEN is_nodal THEN round(short_mm * short_mm, 1)::DECIMAL(18, 3) ELSE area_mm2 END
         WHEN is_nodal THEN short_mm WHEN measure = 'viable' THEN viable_mm
         ELSE longest_mm END;
CREATE OR REPLACE TEMP MACRO resp_by_measure(measure, longest_value, viable_value, area_value) AS
    CASE measure WHEN 'viable' THEN viable_value WHEN 'area' THEN area_value
         ELSE longest_value END;

-- A sum of sizes, exact, in 64-bit arithmetic (see resp_scope_sums).
CREATE OR REPLACE TEMP MACRO resp_mm_sum(x) AS x::DECIMAL(17, 3);

-- R10/M4: the state of a baseline non-target at a study, from its row there
-- (has_row = FALSE: none; a null flag counts as false). `resolved` holds under
-- every criteria; `non-enhancing` counts as resolved only under the criteria
-- whose non_enhancing_resolved is set (M4), as present otherwise.
CREATE OR REPLACE TEMP MACRO resp_nontarget_state(
    has_row, any_progression, any_not_evaluated, all_absent, all_absent_or_non_enhancing,
    is_nodal, short_mm
) AS
    CASE WHEN NOT has_row THEN 'missing'
         WHEN any_progression THEN 'progression'
         WHEN any_not_evaluated THEN 'not evaluated'
         WHEN all_absent
           OR (is_nodal AND short_mm < getvariable('nodal_normal_short_axis_mm')::DECIMAL(18, 3))
              THEN 'resolved'
         WHEN all_absent_or_non_enhancing THEN 'non-enhancing'
         ELSE 'present' END;

-- R7/M3: a target is resolved when a node is below the normal short axis and
-- any other target is 0 mm (null when it has no size).
CREATE OR REPLACE TEMP MACRO resp_target_resolved(is_nodal, size_mm) AS
    CASE WHEN is_nodal THEN size_mm < getvariable('nodal_normal_short_axis_mm')::DECIMAL(18, 3)
         ELSE size_mm = 0 END;

-- F1: a scope keeps every lesion, or only those inside / outside the treated field.
-- A lesion is in field when all its fragments lie in treated liver segments; a
-- liver lesion without a segment, or a lesion outside the liver, is out of field.
CREATE OR REPLACE TEMP MACRO resp_in_field(treated, liver_with_segment, segments) AS
    coalesce(liver_with_segment AND list_has_all(treated, segments), FALSE);
CREATE OR REPLACE TEMP MACRO resp_in_scope(scope, treated, liver_with_segment, segments) AS
    CASE scope
        WHEN 'in_field' THEN resp_in_field(treated, liver_with_segment, segments)
        WHEN 'out_field' THEN NOT resp_in_field(treated, liver_with_segment, segments)
        ELSE TRUE END;

-- Text for reasons (X1): sizes to 0.1 (half away from zero) in mm, or in the
-- criteria's unit (mm2 for EASL), signed changes, percentages.
CREATE OR REPLACE TEMP MACRO resp_size(x, unit) AS round(x, 1)::DECIMAL(18, 1)::VARCHAR || ' ' || unit;
CREATE OR REPLACE TEMP MACRO resp_mm(x) AS resp_size(x, 'mm');
CREATE OR REPLACE TEMP MACRO resp_signed_size(x, unit) AS
    CASE WHEN x >= 0 THEN '+' ELSE '' END || resp_size(x, unit);
CREATE OR REPLACE TEMP MACRO resp_pct(part, whole) AS
    -- (+ 0.0 turns a rounded -0.0 into 0.0)
    CASE WHEN whole > 0 THEN round((part * 100)::DOUBLE / whole::DOUBLE, 1) + 0.0 END;
CREATE OR REPLACE TEMP MACRO resp_signed_pct(x) AS
    CASE WHEN x >= 0 THEN '+' ELSE '' END || x::DECIMAL(18, 1)::VARCHAR || '%';

-- "+24.0% (+12.0 mm)", or "+12.0 mm" when the reference is 0 mm (pct null).
-- Pass columns, not expressions: a macro repeats its arguments.
CREATE OR REPLACE TEMP MACRO resp_change(pct, change, unit) AS
    coalesce(resp_signed_pct(pct) || ' (' || resp_signed_size(change, unit) || ')',
             resp_signed_size(change, unit));

-- "target L3", "non-targets NT1, NT2": a noun, plural when n > 1, and the lesion ids.
CREATE OR REPLACE TEMP MACRO resp_named(n, noun, ids) AS
    noun || CASE WHEN n > 1 THEN 's ' ELSE ' ' END || ids;

-- Lesion ids gathered with list() (cheaper than an ordered string_agg), sorted, comma-separated.
CREATE OR REPLACE TEMP MACRO resp_joined(ids) AS nullif(array_to_string(list_sort(ids), ', '), '')
