"""revisits: asking complainants and residents, after a case is handled, whether they are
satisfied (回访 / 满意度).

Owns revisits (calls and door-to-door surveys) and their respondents, the questionnaires
they are asked under, and the yearly spot-check samples of revisited cases. A dissatisfied
answer sends a handled case back to review (through the lifecycle, below).

May use: fieldwork, cases, accounts, audit, core.
"""
