"""Jobs: heavy work (batch closure files, archives) done apart from web requests.

The database is the truth (server.models.Job); the queue only says "look at job X": RQ
over Redis when JOBS_REDIS_URL is set (`fieldcase worker` processes), else a few threads
of the web process. A worker claims a job with a conditional UPDATE, heartbeats while it
runs, puts its result in the object store under a key of its own attempt and finishes
with an UPDATE only that attempt can make; the reaper takes again what a killed worker
left and sends what never reached the queue. The top context: it uses closure's rules
for which cases a user may have in a file, and nothing below it knows of jobs.
"""
from server.domain.jobs import kinds as kinds  # each kind registers itself
from server.domain.jobs import runner as runner  # its results, with core.named_objects
