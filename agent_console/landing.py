"""Which page a signed-in user starts on (pure: ``agent_console.pages`` asks the
database, this decides).

Rules:
- whoever supervises the whole hotline (a ``supervise`` grant and ``calls:read`` at scope
  ``all``: the hotline supervisor) starts on the live calls page, even with a desk phone
  of her own (the phone she listens, whispers and barges with);
- whoever answers calls (has an agent interface) starts on the console;
- a service station's staff and its technicians (a ``tickets:read`` grant of a network
  scope, ``station`` or ``technician``) start on the station's page (issue 15);
- whoever watches the whole hotline's calls (a role granting ``calls:read`` at scope
  ``all``, e.g. the hotline supervisor) and answers none starts on the live calls page:
  the queues, the calls in progress and the latest logged calls are their work, and
  the records page shows nothing before a search;
- everyone else (account managers, sales supervisors, admins, whose rights come from
  ``is_admin`` rather than a grant) starts on the records.
"""

from __future__ import annotations

CONSOLE, LIVE, RECORDS, STATION = "/console", "/live", "/records", "/station"
NETWORK_SCOPES = ("station", "technician")  # crm_core.permissions.NETWORK_SCOPES


def home_page(*, answers_calls: bool, calls_read: str | None,
              tickets_read: str | None = None, supervises: bool = False) -> str:
    """The home page of a user (``calls_read``, ``tickets_read``: their role's scopes;
    ``supervises``: their role has a ``supervise`` grant)."""
    if supervises and calls_read == "all":
        return LIVE
    if answers_calls:
        return CONSOLE
    if tickets_read in NETWORK_SCOPES:
        return STATION
    if calls_read == "all":
        return LIVE
    return RECORDS
