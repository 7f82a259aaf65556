"""revisits: asking complainants and residents, after a case is handled, whether they are
satisfied (回访 / 满意度).

Owns revisits (calls and door-to-door surveys) and their respondents, the questionnaires
they are asked under, and the yearly spot-check samples of revisited cases. A dissatisfied
answer sends a handled case back to review (through the lifecycle, below).

May use: fieldwork, cases, accounts, audit, core.
"""

# Importing the package registers what the lifecycle asks of it (server.domain.cases.hooks:
# whether a case is a revisit user's to call).
from server.domain.revisits import sampling  # noqa: F401
