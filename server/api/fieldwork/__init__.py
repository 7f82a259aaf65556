"""HTTP of fieldwork: visits and readings, evidence intake, the noise standards.
Routes and, beside them, their schemas (schemas.py)."""
