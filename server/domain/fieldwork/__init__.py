"""fieldwork: what inspectors bring back from a site.

Owns visits (site checks and night checks) and their readings, evidence intake (declare,
receive the bytes, complete; photos and interview recordings), integrity flags, the noise
record (how a reading is taken and judged) and the measurement standards it is held
against.

May use: cases, accounts, audit, core.
"""

from server.domain.fieldwork import evidence  # noqa: F401  (its objects: core.named_objects)
