"""What Hotline's own records add to the PBX's journal of an outbound call
(``hotline.journal``): who an agent's phone belongs to, and the number a callback
attempt dialled. Thin database reads; the rules are in ``hotline.journal``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent_console.dialling import state_interface
from crm_core.models import User
from ivr import callback_store
from ivr.callback_worker import claimed_callback


async def agents_by_device(sm: async_sessionmaker[AsyncSession]
                           ) -> dict[str, tuple[str, str]]:
    """device -> (agent, interface) of every user with a phone, named as the console's
    Originate names her (HOTLINE_AGENT_NAME: her agent name, else her display name)."""
    async with sm() as db:
        rows = await db.execute(select(User.agent_interface, User.agent_name, User.display_name)
                                .where(User.agent_interface.is_not(None)))
        return {state_interface(iface): (agent or shown or iface, iface)
                for iface, agent, shown in rows if iface}


async def callback_numbers(sm: async_sessionmaker[AsyncSession], linkedids: list[str]
                           ) -> dict[str, str]:
    """Linkedid -> the number of the callback whose attempt it is (its claim token)."""
    ids = {lid: cid for lid in linkedids if (cid := claimed_callback(lid)) is not None}
    phones = await callback_store.phones(sm, sorted(set(ids.values())))
    return {lid: phones[cid] for lid, cid in ids.items() if cid in phones}
