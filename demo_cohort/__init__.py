"""The deterministic synthetic cohort generator: a source folder that follows the input
contract, with clinically plausible courses and about 1 % deliberately bad rows whose
expected quarantine reason is logged in ``_generator/spoiled_rows.csv``."""

from demo_cohort.generator import GenerationSummary, generate

__all__ = ["GenerationSummary", "generate"]
