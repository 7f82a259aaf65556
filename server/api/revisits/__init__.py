"""HTTP of revisits: revisits, questionnaires, spot-check samples.
Routes and, beside them, their schemas (schemas.py)."""
