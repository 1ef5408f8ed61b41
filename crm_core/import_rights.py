"""Who may import a spreadsheet of customers through the API (the web console's
import page; the ``hotline import`` command runs as the system and needs none).

Rule: an import writes customers for ANY account manager (the file's owner column)
or into the shared pool, with their contacts and assets, so it needs
``customers``/``create`` and ``customers``/``reassign``, both at scope ``all``: in the
default roles, administrators. The importer still checks the create grant of every
kind of sheet it writes (contacts, assets), row by row decisions stay its own.
"""

from __future__ import annotations

from crm_core.permissions import Actor, PermissionDenied, scope_for

NEEDED = (("customers", "create"), ("customers", "reassign"))


def may_import(actor: Actor) -> bool:
    """Whether ``actor`` may import a file (the module rule)."""
    return all(scope_for(actor, module, op) == "all" for module, op in NEEDED)


def require_import(actor: Actor) -> None:
    """``PermissionDenied`` unless ``actor`` may import a file."""
    for module, op in NEEDED:
        if scope_for(actor, module, op) != "all":
            raise PermissionDenied(module, op)
