"""Which resource route modules exist: each one wraps a crm_core service and is
listed here once that service is on main.

Rule: a route module only calls its service; no business rule lives in the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType


def available() -> Iterator[ModuleType]:
    """The resource route modules, in the order of the OpenAPI document."""
    from agent_console.api import (
        routes_agent,
        routes_call_lists,
        routes_call_log_report,
        routes_callbacks,
        routes_calls,
        routes_dispatch,
        routes_duplicates,
        routes_exports,
        routes_imports,
        routes_ivr,
        routes_ivr_try,
        routes_kpi_reports,
        routes_lookup,
        routes_mailings,
        routes_network,
        routes_orders,
        routes_outbound_lists,
        routes_ownership,
        routes_pool,
        routes_records,
        routes_reports,
        routes_roles,
        routes_sales,
        routes_satisfaction,
        routes_service_report,
        routes_supervise,
        routes_ticket_moves,
        routes_ticket_page,
    )

    yield routes_records
    yield routes_ticket_moves  # issue 15 item 4: the ticket's life, the station's page
    yield routes_roles  # issue 14 item 10: roles and grants
    yield routes_lookup
    yield routes_ownership
    yield routes_reports
    yield routes_ivr
    yield routes_callbacks  # issue 6 item 4(d): callbacks
    yield routes_agent  # the agent console's controls (issue 5)
    yield routes_calls
    yield routes_supervise  # issue 16 item 4: listen / whisper / barge, pause, sign out
    yield routes_call_lists  # issue 14 items 8-9: a customer's calls, the recent callers
    # the back office's pages (issue 14 item 11)
    yield routes_ivr_try
    yield routes_pool
    yield routes_duplicates
    yield routes_imports
    yield routes_exports
    yield routes_dispatch  # issue 15 item 6: the dispatch board
    yield routes_ticket_page  # issue 15 item 6: the ticket page
    yield routes_service_report  # issue 15 items 7 and 6: service report, station overview
    yield routes_outbound_lists  # issue 17 items 1-2: call lists, preview dialling
    yield routes_satisfaction  # issue 17 item 4: scores that belong to people
    yield routes_network  # issue 15: the service network, routing overrides
    yield routes_orders  # issue 18: orders, supplier batches and their stages
    yield routes_kpi_reports  # issue 16 item 5: the call centre's reports
    yield routes_call_log_report  # issue 16 item 5: the call log with filters and export
    yield routes_sales  # issue 18 item 3: the sales pipeline, big contracts
    yield routes_mailings  # issue 18 item 4: mail to customer groups
