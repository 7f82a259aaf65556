"""accounts: who is asking, and what they may see.

Owns users and their sessions (auth), roles, the scope of a user's units (every read and
write of a case goes through `scope`, which also says what "open" means) and the login
throttle.

May use: audit, core. (Above audit, because a login, an unlock or a revoked session is a
`security.*` entry in the audit log.)
"""
