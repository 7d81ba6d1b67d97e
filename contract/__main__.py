"""``python -m contract``: print the reason-code table of ARCHITECTURE.md (Markdown)."""

from contract.reasons import markdown_table

print(markdown_table())
