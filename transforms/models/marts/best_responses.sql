-- depends_on: best_assessments, best_scopes
-- reads: in_patients
-- Best overall response and time to event, one row per patient, criteria and
-- scope (response-criteria E1–E5 and E3b; admiralonco BOR/CBOR events).
-- Inputs:  assessments(patient_key, criteria, scope, study_date, overall_response,
--                      has_target_disease, progression_date_hint)
--          scopes(patient_key, scope, start_date, event_window_end)
--          patients(patient_key, death_date)
-- Parameters (config/best_response.toml): min_sd_days, confirm_days,
-- max_ne_between, criteria, response_ranking, same_date_worst_first.

-- Every (patient, criteria, scope) that gets a row, even without assessments;
-- scope_id is a compact key for the joins and windows below.
CREATE OR REPLACE TEMP TABLE scope_keys AS
SELECT row_number() OVER () AS scope_id, *
FROM (
    SELECT DISTINCT
        s.patient_key,
        c.criteria,
        s.scope,
        CAST(s.start_date AS DATE) AS start_date,
        CAST(s.event_window_end AS DATE) AS event_window_end
    FROM best_scopes AS s
    CROSS JOIN (SELECT unnest(getvariable('criteria')) AS criteria) AS c
);

-- Each assessment with the key and dates of its scope (one join on the three
-- text keys, shared by the next two tables).
CREATE OR REPLACE TEMP TABLE scoped AS
SELECT
    k.scope_id,
    k.start_date,
    k.event_window_end,
    CAST(a.study_date AS DATE) AS study_date,
    a.overall_response,
    a.has_target_disease,
    CAST(a.progression_date_hint AS DATE) AS progression_date_hint
FROM best_assessments AS a
JOIN scope_keys AS k
    ON a.patient_key = k.patient_key AND a.criteria = k.criteria AND a.scope = k.scope;

-- E3b needs to know whether the scope's baseline had target disease; any row
-- of the scope may carry it (the baseline row too). Unknown counts as "has".
CREATE OR REPLACE TEMP TABLE target_disease AS
SELECT scope_id, coalesce(bool_or(has_target_disease), true) AS has_target_disease
FROM scoped
GROUP BY scope_id;

-- Follow-ups of each scope: on or after its start (admiralonco: ADT >= RANDDT),
-- before the next session for a session scope (B3), the baseline row (null
-- response) left out; one per date, the worst when a date has several (the
-- smallest {rank in same_date_worst_first, progression date}; a response
-- missing from that list ranks last).
CREATE OR REPLACE TEMP TABLE followups AS
SELECT scope_id, day, worst.response, worst.progression_date
FROM (
    SELECT
        scope_id,
        study_date - start_date AS day,
        min({
            'rank': coalesce(
                list_position(getvariable('same_date_worst_first'), overall_response),
                len(getvariable('same_date_worst_first')) + 1),
            'progression_date': coalesce(progression_date_hint, study_date),
            'response': overall_response
        }) AS worst
    FROM scoped
    WHERE overall_response IS NOT NULL
        AND study_date >= start_date
        AND (event_window_end IS NULL OR study_date < event_window_end)
    GROUP BY scope_id, start_date, study_date
);

-- E1: up to and including the first PD; later assessments do not count.
-- `day` is the number of days from the scope start.
CREATE OR REPLACE TEMP TABLE used AS
SELECT *
FROM followups
QUALIFY day <= coalesce(
    min(CASE WHEN response = 'PD' THEN day END) OVER (PARTITION BY scope_id),
    day
);

-- E3: a CR or PR is confirmed by the first later assessment that could
-- confirm it (a CR for a CR; a CR or PR for a PR; at least confirm_days
-- later) when the assessments after it, up to and including that candidate,
-- are only CR/NE (PR: CR/PR/NE), hold at most max_ne_between NE, and (PR)
-- have no PR after a CR. Taking the first candidate is what admiralonco does
-- (first_cond); no later candidate could pass where the first one failed.
-- Both self-joins stay within one scope (about ten rows each).
CREATE OR REPLACE TEMP TABLE confirmed AS
WITH candidates AS (
    SELECT a.scope_id, a.day AS response_day, a.response, min(b.day) AS candidate_day
    FROM used AS a
    JOIN used AS b
        ON b.scope_id = a.scope_id
        AND b.day - a.day >= getvariable('confirm_days')
        AND (b.response = 'CR' OR (a.response = 'PR' AND b.response = 'PR'))
    WHERE a.response IN ('CR', 'PR')
    GROUP BY a.scope_id, a.day, a.response
)
SELECT c.scope_id, c.response_day
FROM candidates AS c
JOIN used AS m
    ON m.scope_id = c.scope_id AND m.day > c.response_day AND m.day <= c.candidate_day
GROUP BY c.scope_id, c.response_day, c.response
HAVING bool_and(m.response IN ('CR', 'NE') OR (c.response = 'PR' AND m.response = 'PR'))
    AND count(*) FILTER (WHERE m.response = 'NE') <= getvariable('max_ne_between')
    AND NOT coalesce(
        min(m.day) FILTER (WHERE m.response = 'CR') < max(m.day) FILTER (WHERE m.response = 'PR'),
        false
    );

-- What each assessment is worth for bor (E2) and bor_confirmed (E3, E3b).
CREATE OR REPLACE TEMP TABLE counted AS
SELECT
    u.*,
    c.response_day IS NOT NULL AS is_confirmed_response,
    CASE
        -- E2: SD and NON-CR/NON-PD count only from min_sd_days after the start
        WHEN u.response IN ('SD', 'NON-CR/NON-PD') AND u.day < getvariable('min_sd_days')
            THEN 'NE'
        ELSE u.response
    END AS bor_value,
    CASE
        -- E3: a confirmed CR/PR keeps its value
        WHEN u.response IN ('CR', 'PR') AND c.response_day IS NOT NULL THEN u.response
        -- PD and NE are what they are
        WHEN u.response NOT IN ('CR', 'PR', 'SD', 'NON-CR/NON-PD') THEN u.response
        -- E2/E3: too early for stable disease, so not evaluable
        WHEN u.day < getvariable('min_sd_days') THEN 'NE'
        -- E3b: an unconfirmed CR without target disease is NON-CR/NON-PD
        WHEN u.response = 'CR' AND NOT t.has_target_disease THEN 'NON-CR/NON-PD'
        -- E3: an unconfirmed CR/PR counts as SD (RECIST 1.1 table 3)
        WHEN u.response IN ('CR', 'PR') THEN 'SD'
        ELSE u.response
    END AS bor_confirmed_value
FROM used AS u
LEFT JOIN confirmed AS c ON c.scope_id = u.scope_id AND c.response_day = u.day
LEFT JOIN target_disease AS t ON t.scope_id = u.scope_id;

CREATE OR REPLACE TEMP TABLE per_scope AS
SELECT
    scope_id,
    min(list_position(getvariable('response_ranking'), bor_value)) AS bor_rank,
    min(list_position(getvariable('response_ranking'), bor_confirmed_value)) AS bor_confirmed_rank,
    min(day) FILTER (WHERE is_confirmed_response) AS first_response_day,
    -- E4/R11: the first PD, dated to its hint when progression was seen earlier
    min(progression_date) FILTER (WHERE response = 'PD') AS progression_date,
    max(day) FILTER (WHERE response <> 'NE') AS last_evaluable_day
FROM counted
GROUP BY scope_id;

-- E4/E5: a death is an event for the course, and for a session only before
-- the next session. LEAST skips nulls, so event_day is the earlier of the two.
CREATE OR REPLACE TEMP TABLE timed AS
SELECT
    k.patient_key,
    k.criteria,
    k.scope,
    k.start_date,
    p.bor_rank,
    p.bor_confirmed_rank,
    p.first_response_day,
    p.progression_date,
    p.last_evaluable_day,
    least(
        p.progression_date,
        CASE
            WHEN k.event_window_end IS NULL OR CAST(pt.death_date AS DATE) < k.event_window_end
                THEN CAST(pt.death_date AS DATE)
        END
    ) - k.start_date AS event_day
FROM scope_keys AS k
LEFT JOIN per_scope AS p ON p.scope_id = k.scope_id
LEFT JOIN in_patients AS pt ON pt.patient_key = k.patient_key;

-- Censored at the last evaluable assessment, or at the start without one.
SELECT
    patient_key,
    criteria,
    scope,
    coalesce(getvariable('response_ranking')[bor_rank], 'NE') AS bor,
    coalesce(getvariable('response_ranking')[bor_confirmed_rank], 'NE') AS bor_confirmed,
    start_date + CAST(first_response_day AS INTEGER) AS first_response_date,
    progression_date,
    CAST(coalesce(event_day, last_evaluable_day, 0) AS INTEGER) AS pfs_days,
    event_day IS NOT NULL AS pfs_event,
    CAST(coalesce(progression_date - start_date, last_evaluable_day, 0) AS INTEGER) AS ttp_days,
    -- No duration of response when the progression is dated before the response
    -- (R11 dates it to an equivocal sighting before the first response): never negative.
    CASE WHEN event_day >= first_response_day OR event_day IS NULL
         THEN CAST(coalesce(event_day, last_evaluable_day) - first_response_day AS INTEGER)
    END AS dor_days
FROM timed
ORDER BY patient_key, criteria, scope;
