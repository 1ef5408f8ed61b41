"""Who may import a spreadsheet of customers through the API (the web console's
import page; the ``hotline import`` command runs as the system and needs none).

Rule: an import writes customers for ANY account manager (the file's owner column)
or into the shared pool, with their contacts and assets, so it needs
``customers``/``create`` and ``customers``/``reassign``, both at scope ``all``: in the
default roles, administrators. The importer still checks the create grant of every
kind of sheet it writes (contacts, assets), row by row decisions stay its own.
A file of the service network (kind ``stations`` or ``technicians``) needs
``stations``/``create`` at scope ``all`` instead; a file of orders (kind ``orders``)
``orders``/``create`` and ``orders``/``update`` at scope ``all``.
"""

from __future__ import annotations

from crm_core.permissions import Actor, PermissionDenied, scope_for

NEEDED = (("customers", "create"), ("customers", "reassign"))
# the service network (stations, technicians) is no customer's: its own grant
NEEDED_NETWORK = (("stations", "create"),)
NETWORK_KINDS = ("stations", "technicians")
# customers' orders (issue 18): any salesman's customers' orders, created or updated
NEEDED_ORDERS = (("orders", "create"), ("orders", "update"))


def _needed(kind: str) -> tuple[tuple[str, str], ...]:
    if kind == "orders":
        return NEEDED_ORDERS
    return NEEDED_NETWORK if kind in NETWORK_KINDS else NEEDED


def may_import(actor: Actor, kind: str = "customers") -> bool:
    """Whether ``actor`` may import a file of ``kind`` (the module rule)."""
    return all(scope_for(actor, module, op) == "all" for module, op in _needed(kind))


def require_import(actor: Actor, kind: str = "customers") -> None:
    """``PermissionDenied`` unless ``actor`` may import a file of ``kind``."""
    for module, op in _needed(kind):
        if scope_for(actor, module, op) != "all":
            raise PermissionDenied(module, op)
