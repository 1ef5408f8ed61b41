"""An agent's personal queue ``agent-<extension>`` (deploy/asterisk/queues.conf): her
presence on the PBX, pure naming rules shared by the console, the IVR and the simulator.

Rules:
- every agent has one personal queue, ``agent-`` + her extension; queues.conf lists NO
  member in it: Hotline's sign-in adds her (QueueAdd, a dynamic member) and its sign-out
  removes her, so "in her personal queue" means "Hotline signed her in" and nothing
  else (a static member, or a queue the PBX merely lists her in, never does);
- the dialplan reaches an agent through it (a preferred agent, a transfer to her), so
  she is only offered a call when signed in, free and not paused (joinempty), and the
  queue events pop the caller on her console;
- the extension is what the dialplan makes of an interface or a reference:
  ``CUT(x,@,1)``, then the part after the ``/``, then ``FILTER(A-Za-z0-9_)``:
  ``Local/1001@agents/n`` and ``PJSIP/1001`` -> ``1001``.
"""

from __future__ import annotations

PERSONAL_PREFIX = "agent-"


def agent_extension(reference: str) -> str:
    """The extension of an interface or extension reference (``""`` when none)."""
    ext = reference.split("@", 1)[0]
    if "/" in ext:
        ext = ext.split("/")[1]
    return "".join(c for c in ext if c.isascii() and (c.isalnum() or c == "_"))


def personal_queue(interface: str) -> str | None:
    """``agent-<extension>`` of ``interface``; None when it has no extension."""
    ext = agent_extension(interface)
    return PERSONAL_PREFIX + ext if ext else None


def is_personal(queue: str) -> bool:
    """Whether ``queue`` is some agent's personal queue (not a queue callers wait in)."""
    return queue.startswith(PERSONAL_PREFIX)
