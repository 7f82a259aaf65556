"""Intake from the hotline platforms: sheet imports, sources and their mappings, push."""
