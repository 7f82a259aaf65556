"""The rules, free of HTTP: services validate, decide and own the transaction.

Packages by bounded context, as a case lives, each above the ones it uses (checked by
import-linter's layers contract, pyproject.toml):

    jobs > ledgers > remediation > intake > closure > revisits > fieldwork > repeats > cases
        > accounts > audit > core

A lower context never imports a higher one: where a lower one must let a higher one act,
the higher one registers a guard or a reaction (server.domain.cases.hooks). The versioned
data the rules read (deadline rules, closure rules, noise limits, the calendar, labels)
is in server/domain/data.
"""


def load_contexts() -> None:
    """Import every context, so that each registers its guards and reactions with the ones
    below it (closure's approval gate and seal with the lifecycle). create_app calls this;
    so must anything that uses the domain without an app."""
    from server.domain import (  # noqa: F401
        accounts,
        audit,
        cases,
        closure,
        core,
        fieldwork,
        intake,
        jobs,
        ledgers,
        remediation,
        repeats,
        revisits,
    )
