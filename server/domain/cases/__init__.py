"""cases: a case's life at the office's desk, from receipt to approval.

Owns the case record (create, list, edit, reveal), the one transition table and the
command that applies an action (lifecycle), deadlines (the pure engine, the versioned
rules, the working-day calendar and its years loaded as data), the colour board, the map,
the sweep's reminders and escalations, notifications under the bell and the webhooks that
carry them out.

May use: accounts, audit, core. Where the lifecycle must let a context above act (closure
deciding whether a case may be approved, and sealing it when it is), that context
registers a guard or a reaction in `cases.hooks`; this package never imports it.
"""
