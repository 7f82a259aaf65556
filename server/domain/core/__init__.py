"""core: what every context stands on, and nothing about a case's life.

Owns the unit of work (`uow`: one transaction per command), the domain's errors, the
runtime's settings and store, idempotent creation on a client's id, the vocabularies and
their labels, privacy masking, distances, short codes, the rule every free text obeys
and the run lock that lets one node at a time do a periodic task (`runlock`).

May use: nothing else in server.domain (only models, extensions and storage).
"""
