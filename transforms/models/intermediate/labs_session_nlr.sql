-- depends_on: labs_nlr_draws, labs_session_context
-- reads:
-- N2-N6 per session. nlr_pre: the last NLR draw on or before the session date
-- and within lab_lookback_days (a draw whose NLR is NULL makes nlr_pre NULL;
-- it is not replaced by an older one). nlr_1m/3m/6m: the draw nearest the
-- target day inside its closed window, a tie to the earlier draw. Slope: least
-- squares over the non-null NLRs from nlr_pre's day (else the session day) to
-- nlr_slope_max_days, x 30 days. Every follow-up window stops the day before
-- the next session. Runs after labs_nlr and labs_session_context.
CREATE OR REPLACE TEMP TABLE session_nlr AS
WITH bounds AS (
    SELECT
        *,
        least(
            next_session_date,
            session_date + 1 + greatest(
                getvariable('nlr_slope_max_days'),
                getvariable('nlr_1m_to_days'),
                getvariable('nlr_3m_to_days'),
                getvariable('nlr_6m_to_days')
            )::INTEGER
        ) AS followup_end
    FROM labs_session_context
),
draws AS (
    -- every NLR draw from the look-back start to the end of the follow-up
    -- (exclusive), with its day relative to the session
    SELECT
        b.session_seq,
        n.collected_at,
        date_diff('day', b.session_date, n.collected_at::DATE) AS day,
        n.nlr
    FROM bounds AS b
    JOIN labs_nlr_draws AS n
        ON n.pid = b.pid
        AND n.collected_at >= (b.session_date - getvariable('lab_lookback_days')::INTEGER)::TIMESTAMP
        AND n.collected_at < b.followup_end::TIMESTAMP
),
pre AS (
    SELECT session_seq, arg_max({'nlr': nlr, 'day': day}, collected_at) AS last_draw
    FROM draws
    WHERE day <= 0
    GROUP BY session_seq
),
windows AS (
    SELECT
        d.session_seq,
        (arg_min({'v': d.nlr}, abs(d.day - getvariable('nlr_1m_target_days')) * 2 + (d.day > getvariable('nlr_1m_target_days'))::INTEGER)
            FILTER (WHERE d.day BETWEEN getvariable('nlr_1m_from_days') AND getvariable('nlr_1m_to_days'))).v AS nlr_1m,
        (arg_min({'v': d.nlr}, abs(d.day - getvariable('nlr_3m_target_days')) * 2 + (d.day > getvariable('nlr_3m_target_days'))::INTEGER)
            FILTER (WHERE d.day BETWEEN getvariable('nlr_3m_from_days') AND getvariable('nlr_3m_to_days'))).v AS nlr_3m,
        (arg_min({'v': d.nlr}, abs(d.day - getvariable('nlr_6m_target_days')) * 2 + (d.day > getvariable('nlr_6m_target_days'))::INTEGER)
            FILTER (WHERE d.day BETWEEN getvariable('nlr_6m_from_days') AND getvariable('nlr_6m_to_days'))).v AS nlr_6m,
        regr_slope(d.nlr, d.day) FILTER (WHERE d.day BETWEEN coalesce(p.last_draw.day, 0) AND getvariable('nlr_slope_max_days')) AS slope_per_day,
        count(d.nlr) FILTER (WHERE d.day BETWEEN coalesce(p.last_draw.day, 0) AND getvariable('nlr_slope_max_days')) AS n_slope_values
    FROM draws AS d
    LEFT JOIN pre AS p ON p.session_seq = d.session_seq
    GROUP BY d.session_seq
),
sessions_pre AS (
    SELECT s.*, p.last_draw.nlr AS nlr_pre
    FROM labs_session_context AS s
    LEFT JOIN pre AS p ON p.session_seq = s.session_seq
)
SELECT
    p.session_seq,
    p.patient_key,
    p.session_id,
    p.session_number,
    p.session_date,
    p.nlr_pre,
    w.nlr_1m,
    w.nlr_3m,
    w.nlr_6m,
    CASE WHEN p.nlr_pre > 0 THEN round(w.nlr_6m / p.nlr_pre, getvariable('value_round_decimals')) END
        AS nlr_6m_vs_pre,
    p.nlr_pre > getvariable('nlr_elevated_above') AS nlr_elevated_pre,
    w.nlr_6m > p.nlr_pre AS nlr_6m_above_pre,
    CASE
        WHEN w.n_slope_values >= getvariable('nlr_slope_min_values')
            THEN round(w.slope_per_day * getvariable('nlr_slope_per_days'), getvariable('value_round_decimals'))
    END AS nlr_slope_per_30d
FROM sessions_pre AS p
LEFT JOIN windows AS w ON w.session_seq = p.session_seq;
