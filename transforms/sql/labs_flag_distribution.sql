-- How many sessions have each value of every flag and eligibility column
-- (true/false/null, pass/fail/missing; elig_lvef's NULL is 'not applicable'),
-- zero counts included. Inputs: flag_values (the columns as text),
-- flag_categories(column_name, category, null_category, position).
WITH long AS (
    SELECT column_name, category
    FROM flag_values UNPIVOT INCLUDE NULLS (category FOR column_name IN (COLUMNS(*)))
)
SELECT fc.column_name, fc.category, count(l.column_name) AS n_sessions
FROM flag_categories AS fc
LEFT JOIN long AS l
    ON l.column_name = fc.column_name
    AND coalesce(l.category, fc.null_category) = fc.category
GROUP BY fc.column_name, fc.category, fc.position
ORDER BY fc.position
