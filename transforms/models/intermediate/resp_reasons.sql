-- depends_on: resp_overall, resp_reason_lists, resp_rules
-- reads:
-- X1 / B2 / B3 / B5: the reason of each row, the rule that decided its overall
-- response with its numbers. A view: the output models read it for the rows
-- they publish only (and out_field rows for the F2 note), so no reason is
-- written for a row nobody reads.
CREATE OR REPLACE TEMP VIEW resp_reasons AS
WITH listed AS (
    SELECT
        r.*, c.pd_rule, c.cr_rule, c.pr_rule, c.sd_rule, c.nontarget_cr_rule,
        c.reappearance_rule, c.non_nodal_measure, c.unit_text, c.pr_max_fraction_of_baseline,
        c.density_pr_max_fraction_of_baseline IS NOT NULL AS has_density_rule,
        l.unsized, l.baseline_unsized, l.progressed, l.unevaluated, l.present
    FROM resp_overall AS r
    JOIN resp_criteria AS c ON c.criteria = r.criteria
    LEFT JOIN resp_reason_lists AS l
        ON l.scope_id = r.scope_id AND l.study_date = r.study_date AND l.criteria = r.criteria
),
detailed AS (
    -- The numbers part of a target response (R5-R9 / M2-M3 / A2-A3 / C2-C5). Under
    -- Choi a PR or SD may have no evaluable size (the density decided, C5): its
    -- size part then says why, as an NE would.
    SELECT
        *,
        CASE
            WHEN target_response = 'NE'
              OR (target_response IN ('PR', 'SD') AND (sum_mm IS NULL OR baseline_sum IS NULL))
            THEN
                CASE WHEN baseline_sum IS NULL
                     THEN 'baseline sum not evaluable (' || baseline_unsized || ' at baseline)'
                     ELSE resp_named(n_unsized, 'target', unsized) END
                || CASE WHEN target_response = 'NE' THEN '' ELSE ' (size not evaluable)' END
        END AS size_ne_detail,
        -- C1/C5: the density and its change, and which of size or density decided
        CASE WHEN has_density_rule AND NOT is_baseline AND target_response IS NOT NULL THEN
            CASE WHEN mean_hu IS NULL THEN 'density not evaluable'
                 WHEN baseline_mean_hu IS NULL
                     THEN 'density ' || resp_size(mean_hu, 'HU') || ', baseline density not evaluable'
                 WHEN pct_hu_from_baseline IS NULL
                     THEN 'density ' || resp_size(mean_hu, 'HU') || ', baseline density '
                          || resp_size(baseline_mean_hu, 'HU')
                          || ' (not above 0 HU: no relative change)'
                 ELSE 'density ' || resp_size(mean_hu, 'HU') || ' is '
                      || resp_signed_pct(pct_hu_from_baseline) || ' from baseline '
                      || resp_size(baseline_mean_hu, 'HU')
            END
        END AS density_detail,
        CASE WHEN has_density_rule AND NOT is_baseline THEN
            CASE target_response
                WHEN 'PR' THEN
                    CASE WHEN sum_mm <= baseline_sum * pr_max_fraction_of_baseline
                         THEN CASE WHEN density_fell THEN 'size and density' ELSE 'size' END
                         ELSE 'density' END
                WHEN 'SD' THEN
                    CASE WHEN sum_mm IS NULL OR baseline_sum IS NULL THEN 'density'
                         WHEN density_fell IS NULL THEN 'size'
                         ELSE 'size and density' END
                WHEN 'PD' THEN 'size' WHEN 'CR' THEN 'size'
            END
        END AS decided_by
    FROM listed
),
detailed_target AS (
    SELECT
        * EXCLUDE (size_ne_detail, density_detail, decided_by),
        coalesce(size_ne_detail, CASE target_response
            WHEN 'PD' THEN
                CASE WHEN sum_mm IS NULL
                     THEN 'measured targets already sum ' || resp_size(measured_sum, unit_text)
                          || ', '
                     ELSE 'sum ' || resp_size(sum_mm, unit_text) || ' is ' END
                || resp_change(pct_from_nadir, change_from_nadir, unit_text)
                || ' over nadir ' || resp_size(nadir_sum, unit_text)
                || ' (' || nadir_date::VARCHAR || ')'
                || CASE WHEN sum_mm IS NULL THEN ' (' || unsized || ')' ELSE '' END
            WHEN 'CR' THEN
                'every non-nodal target ' || non_nodal_measure || ' 0 ' || unit_text
                || ' and every nodal target < '
                || resp_mm(getvariable('nodal_normal_short_axis_mm')::DECIMAL(18, 3))
                || ' short axis (sum ' || resp_size(sum_mm, unit_text) || ')'
            -- PR and SD have a sum, a baseline sum and (SD) a nadir: concat() with
            -- no null argument gives what || would, in one allocation.
            WHEN 'PR' THEN
                concat('sum ', resp_size(sum_mm, unit_text), ' is ',
                       resp_change(pct_from_baseline, change_from_baseline, unit_text),
                       ' from baseline ', resp_size(baseline_sum, unit_text))
            WHEN 'SD' THEN
                concat('sum ', resp_size(sum_mm, unit_text), ' is ',
                       resp_change(pct_from_baseline, change_from_baseline, unit_text),
                       ' from baseline ', resp_size(baseline_sum, unit_text),
                       ' and ', resp_change(pct_from_nadir, change_from_nadir, unit_text),
                       ' from nadir ', resp_size(nadir_sum, unit_text),
                       ' (', nadir_date::VARCHAR, ')')
        END) || coalesce('; ' || density_detail, '') AS target_detail,
        coalesce(' by ' || decided_by, '') AS decided
    FROM detailed
)
SELECT
    * EXCLUDE (target_detail, decided),
    CASE
        WHEN baseline_date IS NULL THEN
            CASE WHEN scope = 'course' THEN 'NE (B2): ' ELSE 'NE (B3): ' END
            || 'no baseline study within ' || getvariable('baseline_lookback_days')::VARCHAR
            || CASE WHEN scope = 'course' THEN ' days before the first session'
                    ELSE ' days before the session' END
        WHEN is_baseline THEN 'baseline'
        WHEN overall_response = 'PD' THEN
            'PD (' || concat_ws(', ',
                CASE WHEN target_response = 'PD' THEN pd_rule || decided END,
                CASE WHEN nontarget_response = 'PD' THEN 'R10' END,
                CASE WHEN new_lesions THEN 'R11' END,
                CASE WHEN reappeared THEN reappearance_rule END)
            || '): ' || concat_ws('; ',
                CASE WHEN target_response = 'PD' THEN target_detail END,
                CASE WHEN nontarget_response = 'PD'
                     THEN resp_named(n_progressed, 'non-target', progressed) || ' progressed' END,
                CASE WHEN new_lesions THEN resp_named(n_new, 'new lesion', new_ids) END,
                CASE WHEN reappeared THEN
                    'reappeared after CR (' || cr_date::VARCHAR || '): ' || concat_ws(' and ',
                        resp_named(n_reappeared_targets, 'target', reappeared_targets),
                        resp_named(n_reappeared_nontargets, 'non-target', reappeared_nontargets))
                END)
        WHEN NOT has_target AND NOT has_nontarget THEN
            'NE (R14): no measurable or evaluable disease at baseline'
        WHEN has_target THEN
            CASE overall_response
                WHEN 'NE' THEN 'NE (R6): '
                    || CASE WHEN has_lesion_rows THEN ''
                            ELSE 'no lesion recorded at this study: ' END
                    || target_detail
                WHEN 'CR' THEN 'CR (' || cr_rule || decided || '): ' || target_detail
                    || CASE WHEN has_nontarget THEN '; every non-target resolved'
                            ELSE '; no non-target at baseline' END
                WHEN 'PR' THEN
                    CASE WHEN target_response = 'CR'
                         THEN 'PR (R12): targets CR (' || target_detail || ') but '
                              || coalesce(
                                  resp_named(n_present, 'non-target', present) || ' present',
                                  resp_named(n_unevaluated, 'non-target', unevaluated))
                         ELSE 'PR (' || pr_rule || decided || '): ' || target_detail END
                ELSE 'SD (' || sd_rule || decided || '): ' || target_detail
            END
        ELSE
            CASE overall_response
                WHEN 'NE' THEN 'NE (R13): '
                    || CASE WHEN has_lesion_rows THEN ''
                            ELSE 'no lesion recorded at this study: ' END
                    || resp_named(n_unevaluated, 'non-target', unevaluated)
                WHEN 'CR' THEN 'CR (' || nontarget_cr_rule
                    || '): every non-target resolved; no target at baseline'
                ELSE 'NON-CR/NON-PD (R13): ' || resp_named(n_present, 'non-target', present)
                    || ' present; no target at baseline'
            END
    END
    || CASE WHEN equivocal_ids IS NOT NULL AND NOT is_baseline
            THEN '; equivocal new lesion ' || equivocal_ids || ' is not progression (R11)'
            ELSE '' END AS reason
FROM detailed_target
