-- depends_on:
-- reads: in_lesion_measurements, in_rejected_targets
-- The lesion rows the responses read: the loaded rows, and the target rows staging
-- rejected for their measurement (measurement_rejected): such a lesion is a target
-- at that study without a size, so R1 keeps its follow-ups and R3/R6 make a sum
-- that needs it not evaluable, rather than smaller.
CREATE OR REPLACE TEMP VIEW resp_lesion_input AS
SELECT *, FALSE AS measurement_rejected FROM in_lesion_measurements
UNION ALL BY NAME
SELECT *, TRUE AS measurement_rejected FROM in_rejected_targets
