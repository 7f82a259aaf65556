"""closure: review and closure (验收销号 / 办结), the top of a case's life.

Owns the closure checklist (what a case needs before it may be approved, as data), the
approval gate, the seal of a closed case (a manifest of hashes entering the case's
chain), the closure files the office archives and publishes, and the public verification
of a published photo.

May use: revisits, fieldwork, cases, accounts, audit, core (and server.reports to render
the files).
"""

# Importing the package registers its approval gate and its seal with the lifecycle
# (server.domain.cases.hooks).
# (closure_files and sealing register the objects they store with core.named_objects)
from server.domain.closure import checklist, closure_files, duties, sealing  # noqa: F401
