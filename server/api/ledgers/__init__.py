"""Rates and counts, and the ledgers as XLSX/CSV downloads."""
