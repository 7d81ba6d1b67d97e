"""CDISC ADaM datasets (ADRS, ADTTE) written from a published warehouse (issue 12)."""

from adam.export import AdamExport, export_adam

__all__ = ["AdamExport", "export_adam"]
