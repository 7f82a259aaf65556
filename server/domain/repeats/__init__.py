"""Repeat complaints (seed 002's 反复投诉环境问题清单): complaints linked by place,
category and time, or by the complainant's number, and the subjects complained about 3 or
more times, each with a leader in charge. Above cases: it links each case as it is added
(hooks.case_added)."""

# Registers the case_added / case_updated listeners.
from server.domain.repeats import links as links
