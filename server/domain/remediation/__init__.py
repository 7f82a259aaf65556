"""Looking again and putting right: look-back campaigns (回头看, seed 001) and their re-check
tasks, the rectification plans (整改, annex 1) a rebound reopens a case with, and the hard
cases' remediation plans and leader groups (seed 000). Above intake: it reads closed cases
however they came, and registers its closure rule with the checklist below it."""

# Importing the package registers the closure checks `plan_accepted` (plans) and
# `remediation_plan` (remediation_plans), and the leader_group_member hook (groups).
from server.domain.remediation import campaigns as campaigns
from server.domain.remediation import groups as groups
from server.domain.remediation import plans as plans
from server.domain.remediation import rechecks as rechecks
from server.domain.remediation import remediation_plans as remediation_plans
