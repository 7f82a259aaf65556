"""HTTP of cases: the case record, its life at the desk (transitions, timeline, board, map,
notifications) and the admin's rules, calendar and webhooks.
Routes and, beside them, their schemas (schemas.py)."""
