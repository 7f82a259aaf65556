"""HTTP of closure: the checklist, acknowledgements, seals, closure files, verification.
Routes and, beside them, their schemas (schemas.py)."""
