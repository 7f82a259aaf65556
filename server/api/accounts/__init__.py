"""HTTP of accounts: logging in and out, the sessions, who is logged in.
Routes and, beside them, their schemas (schemas.py)."""
