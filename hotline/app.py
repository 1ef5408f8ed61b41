"""The composition root: an aiohttp app factory that wires every service.

Each lifecycle is one ``cleanup_ctx`` generator that owns it (database engine,
bus, call-log writer, AMI link with its tracker, live hub), in dependency
order; typed ``web.AppKey``s instead of string keys or module globals.

Data flow (DESIGN.md "How data flows", 1 and 4):
Asterisk --AMI--> AmiClient --sync--> TrackerFeed -> CallTracker -> bus
bus --lossless--> CallLogWriter -> call_record (idempotent by linkedid)
bus --lossy-----> LiveHub -> every browser's own bounded queue

Several nodes (Redis bus): one AMI owner per PBX, elected by a lease in Redis
(``hotline.lease``, ``hotline.ownership``); only the owner runs the AMI link, the
callback worker and the server of the PBX requests the other nodes forward
(``hotline.pbx_rpc``); its events and actions are fenced by the lease's token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from agent_console.agent_state import AgentBoard
from agent_console.api import SESSIONMAKER, ApiConfig, create_api_app
from agent_console.api.auth import AUTH, AuthState, make_storage
from agent_console.api.auth_store import AuthStore, SqlAuthStore
from agent_console.api.auth_store_redis import RedisAuthStore, SignOutFollower
from agent_console.api.console import AGENT_STATES, PBX
from agent_console.api.routes_callbacks import CALLBACK_OPTIONS, CallbackOptions
from agent_console.hub import HUB_EVENT_TYPES, PopHub
from agent_console.live import LiveHub, add_routes
from agent_console.pages import add_pages, add_root
from agent_console.pbx_actions import DialPlan, PbxActions
from agent_console.unsubscribe import add_unsubscribe
from agent_console.wallboard import WALLBOARD_EVENT_TYPES, WallboardHub
from agent_console.wallboard import add_routes as add_wallboard_routes
from agent_console.wrapup import AGENT_EVENT_TYPES, AgentStates
from crm_core.agent_spans import SpanWriter
from crm_core.call_log import CallLog, CallLogWriter
from crm_core.db import make_engine, upgrade_async
from crm_core.kpi import QueueRules
from crm_core.lookup import LookupReader
from hotline.bus import Bus, RedisBus, make_bus, stop_task
from hotline.journal import CsvJournal, JournalReconciler
from hotline.journal_lookups import agents_by_device, callback_numbers
from hotline.lease import Fence, RedisLease
from hotline.outbox_worker import OutboxConfig, OutboxWorker, senders_from_settings
from hotline.ownership import FencedAmi, OwnerLoop
from hotline.pbx_rpc import PbxRoute, PbxServer, RemotePbx
from hotline.pipeline import TrackerFeed
from hotline.settings import Settings
from hotline.sla_worker import SlaSweeper
from ivr.agi import AgiServer, AgiSession
from ivr.agi_limits import AgiLimits
from ivr.callback_store import pending_by_queue
from ivr.callback_worker import AmiFanout, AmiLink, CallbackWorker, WorkerConfig
from ivr.callbacks import waiting_counts
from ivr.number_plan import canonical_did
from ivr.routing import PRESENCE_EVENT_TYPES, AgentPresence
from ivr.runtime import IvrRuntime, follow_agent_states
from ivr.store import seed_defaults
from ivr.survey_call import SCRIPT as SURVEY_SCRIPT
from ivr.survey_call import SurveyCalls
from ivr.survey_dialler import DiallerConfig, SurveyDialler
from telephony.ami import AmiClient
from telephony.tracker import CallTracker

log = logging.getLogger("hotline.app")

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
BUS = web.AppKey("bus", Bus)
CALL_LOG = web.AppKey("call_log", CallLog)
WRITER = web.AppKey("writer", CallLogWriter)
TRACKER = web.AppKey("tracker", CallTracker)
FEED = web.AppKey("feed", TrackerFeed)
AMI = web.AppKey("ami", AmiClient)
HUB = web.AppKey("hub", LiveHub)
POP_HUB = web.AppKey("pop_hub", PopHub)
AMI_FANOUT = web.AppKey("ami_fanout", AmiFanout)  # AMI events: tracker feed, then the rest
CALLBACKS = web.AppKey("callbacks", CallbackWorker)
SURVEYS = web.AppKey("surveys", SurveyDialler)
API_AUTH = web.AppKey("api_auth", AuthState)  # the API's sign-in state, shared with the hub
IVR = web.AppKey("ivr", IvrRuntime)
LOCAL_PBX = web.AppKey("local_pbx", PbxActions)  # this node's own controls (AMI owner)
AMI_LINK: web.AppKey[AmiLink] = web.AppKey("ami_link")  # AMI as the owner's duties use it
# several nodes (Redis bus): the AMI lease, its fence, the loop holding it
LEASE_REDIS = web.AppKey("lease_redis", Redis)
LEASE = web.AppKey("lease", RedisLease)
FENCE = web.AppKey("fence", Fence)
OWNER = web.AppKey("owner", OwnerLoop)
OWNER_TASK: web.AppKey[asyncio.Task[None]] = web.AppKey("owner_task")
OWNER_DUTIES: web.AppKey[OwnerDuties] = web.AppKey("owner_duties")
AGI_SERVER = web.AppKey("agi_server", AgiServer)
OUTBOX = web.AppKey("outbox", OutboxWorker)
SLA_SWEEPER = web.AppKey("sla_sweeper", SlaSweeper)
WALLBOARD = web.AppKey("wallboard", WallboardHub)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    await upgrade_async(settings.database_url)
    engine = make_engine(settings.database_url)
    app[ENGINE] = engine
    app[CALL_LOG] = CallLog(engine, region=settings.default_region)
    # the API sub-app's handlers find it through the parent (request.config_dict)
    app[SESSIONMAKER] = async_sessionmaker(engine, expire_on_commit=False)
    # the IVR's default flow and the hotline numbers, when absent (safe on every start/node)
    async with app[SESSIONMAKER].begin() as db:
        await seed_defaults(db, settings.hotline_numbers)
    yield
    await engine.dispose()


async def _bus(app: web.Application) -> AsyncIterator[None]:
    bus = make_bus(app[SETTINGS])
    await bus.start()
    app[BUS] = bus
    yield
    await bus.close()


async def _auth_store(app: web.Application) -> AsyncIterator[None]:
    # sign-outs and the sign-in throttle, where every node sees them and a restart keeps
    # them: Redis when the nodes share a Redis bus, else the database
    settings, auth = app[SETTINGS], app[API_AUTH]
    store: AuthStore
    follower = None
    if settings.bus == "redis":
        # beside the bus's stream: one Redis can serve several Hotlines, each its own
        store = RedisAuthStore(settings.redis_url, f"{settings.redis_stream}:auth:")
        # a session signed out on another node: its sockets on this one close too
        follower = SignOutFollower(store, auth.signed_out)
        await follower.start()
        auth_engine = None
    else:
        # an engine (pool) of its own: a request holds one of the app's connections
        # while it asks the store (sign-in, sign-out); sharing the pool, 16 agents
        # signing in at once each held one and waited for a second until the pool's
        # timeout (500s at shift start). Two pools, no circular wait.
        auth_engine = make_engine(settings.database_url)
        store = SqlAuthStore(auth_engine)
    auth.store = store
    yield
    if follower is not None:
        await follower.close()
    await auth.settled()  # the failed sign-ins answered last are still written
    await store.close()
    if auth_engine is not None:
        await auth_engine.dispose()


async def _call_log_writer(app: web.Application) -> AsyncIterator[None]:
    # only the summaries: a stalled database then holds a few bytes per call, not every event
    subscription = app[BUS].subscribe("call-log", lossless=True, types={"CallEnded"})
    writer = CallLogWriter(app[CALL_LOG], subscription)
    await writer.start()
    app[WRITER] = writer
    yield
    await writer.close()


async def _live_hub(app: web.Application) -> AsyncIterator[None]:
    call_log = app[CALL_LOG]

    async def snapshot() -> dict[str, Any]:
        return {"live": app[TRACKER].live_calls(), "latest": await call_log.latest(20),
                "waiting": await _waiting(app)}

    hub = LiveHub(snapshot)
    app[HUB] = hub
    subscription = app[BUS].subscribe("live-page", maxsize=5_000)
    task = asyncio.create_task(hub.pump(aiter(subscription)), name="live-hub")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    subscription.close()


async def _pop_hub(app: web.Application) -> AsyncIterator[None]:
    # the API sub-app owns sign-in: its config decodes the cookie, its table knows sign-outs
    auth = app[API_AUTH]
    reader = LookupReader(app[ENGINE])
    hub = PopHub(reader, app[ENGINE], make_storage(auth.config),
                 region=app[SETTINGS].default_region, revoked=auth.is_revoked,
                 recording_base_url=app[SETTINGS].recording_base_url)
    app[POP_HUB] = hub
    auth.on_sign_out.append(hub.close_session)  # a signed-out session's sockets close
    subscription = app[BUS].subscribe("pop-hub", maxsize=5_000, types=HUB_EVENT_TYPES)
    task = asyncio.create_task(hub.pump(aiter(subscription)), name="pop-hub")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    subscription.close()
    await reader.close()


async def _agent_states(app: web.Application) -> AsyncIterator[None]:
    # the agents' console state from the PBX's events; wrap-up pauses through the PBX
    # port, which only has a client on the AMI owner node
    states = AgentStates(AgentBoard(wrapup_s=app[SETTINGS].wrapup_s), app[POP_HUB], app[PBX])
    app[AGENT_STATES] = states
    app[POP_HUB].state_of = states.state_frame  # a fresh socket gets its state at once
    subscription = app[BUS].subscribe("agent-states", maxsize=5_000, types=AGENT_EVENT_TYPES)
    states.start(aiter(subscription))
    yield
    await states.close()
    subscription.close()


def writes_state_log(app: web.Application) -> bool:
    """Whether this node writes the agent state log: the PBX's AMI owner (one node)."""
    if OWNER in app:
        return app[OWNER].owner
    return LEASE not in app and app[SETTINGS].ami_enabled


async def _wallboard(app: web.Application) -> AsyncIterator[None]:
    # today's figures from the logs, then from the bus and the agents' views; the state
    # spans into the state log on the one node that owns the PBX
    settings = app[SETTINGS]
    rules = {q: QueueRules.from_dict(r) for q, r in settings.wallboard_queues.items()}
    writer = SpanWriter(app[ENGINE], acts=lambda: writes_state_log(app))
    hub = WallboardHub(app[SESSIONMAKER], rules=rules, canonical=canonical_did, writer=writer)
    app[WALLBOARD] = hub
    # listen before reading the logs: a call that ends meanwhile is then on the bus (and
    # maybe in the log too: counted once, by linkedid), never lost between the two
    subscription = app[BUS].subscribe("wallboard", maxsize=5_000, types=WALLBOARD_EVENT_TYPES)
    await hub.load()
    states = app[AGENT_STATES]
    for view in states.views():  # the agents the board already knows
        hub.on_view(view)
    states.listeners.append(hub.on_view)
    writer.start()
    hub.start(aiter(subscription))
    yield
    states.listeners.remove(hub.on_view)
    await hub.close()
    subscription.close()
    await writer.close()


async def _lease_redis(app: web.Application) -> AsyncIterator[None]:
    # the Redis connection of the AMI lease and the forwarded PBX requests (Redis bus)
    yield
    if LEASE_REDIS in app:
        await app[LEASE_REDIS].aclose()


async def _ami(app: web.Application) -> AsyncIterator[None]:
    # builds the AMI link of a node that may own it; _ownership starts and stops it
    settings = app[SETTINGS]
    if not settings.ami_enabled:
        # never this PBX's AMI owner: events come from the owner through the bus, the
        # console's controls are forwarded to it (Redis) or answer 503 (one node)
        yield
        return
    reconciler = journal_reconciler(app) if settings.pbx_journal else None
    feed = TrackerFeed(app[TRACKER], app[BUS], reconciler)
    fanout = AmiFanout(feed)
    client = AmiClient.from_settings(settings, fanout)
    app[AMI_FANOUT] = fanout
    app[FEED] = feed
    app[AMI] = client
    link: AmiLink = client
    if LEASE in app:  # several nodes: it acts only while this node holds the lease
        link = FencedAmi(client, app[FENCE], app[LEASE])
    app[AMI_LINK] = link
    app[LOCAL_PBX].client = link  # the console's controls act through this link
    yield
    await client.close()
    if reconciler is not None:
        await reconciler.close()


def journal_reconciler(app: web.Application) -> JournalReconciler:
    """The reading of the PBX's journal (settings.pbx_journal) after outages and starts."""
    settings, tracker, call_log = app[SETTINGS], app[TRACKER], app[CALL_LOG]
    sm = app[SESSIONMAKER]
    return JournalReconciler(
        CsvJournal(settings.pbx_journal), publish=app[BUS].publish_nowait,
        logged=call_log.logged, last_logged=call_log.last_ended_at,
        member_of=tracker.member_of, inbound=lambda: tracker.inbound_contexts,
        is_open=tracker.is_open, clock=lambda: tracker.last_event_time or time.time(),
        region=settings.default_region, origin=lambda: tracker.origin_contexts,
        outbound=(settings.outbound_context, settings.callback_context),
        agents=lambda: agents_by_device(sm),
        dialled=lambda linkedids: callback_numbers(sm, linkedids),
        followed=tracker.open_linkedids)


async def _waiting(app: web.Application) -> dict[str, dict[str, int]]:
    """Per queue: callers in the PBX queue plus callbacks not yet connected."""
    return waiting_counts(app[TRACKER].live_calls(), await pending_by_queue(app[SESSIONMAKER]))


async def _callbacks(app: web.Application) -> AsyncIterator[None]:
    # dials callbacks through the AMI link, so only where that link is (the AMI owner):
    # built here, started and stopped with the ownership (_ownership)
    if AMI not in app:
        yield
        return
    worker = CallbackWorker(app[SESSIONMAKER], app[AMI_LINK], WorkerConfig.from_settings(
        app[SETTINGS]))
    app[AMI_FANOUT].add(worker)
    app[CALLBACKS] = worker
    app[CALLBACK_OPTIONS] = replace(app[CALLBACK_OPTIONS], wake=worker.wake)
    yield
    await worker.close()
    app[AMI_FANOUT].remove(worker)


async def _surveys(app: web.Application) -> AsyncIterator[None]:
    # the survey dialler dials through the AMI link too: the AMI owner runs it
    if AMI not in app or not app[SETTINGS].survey_enabled:
        yield
        return
    dialler = SurveyDialler(app[SESSIONMAKER], app[AMI_LINK],
                            DiallerConfig.from_settings(app[SETTINGS]))
    app[AMI_FANOUT].add(dialler)
    app[SURVEYS] = dialler
    yield
    await dialler.close()
    app[AMI_FANOUT].remove(dialler)


class OwnerDuties:
    """What only the PBX's AMI owner runs: the AMI link (its first connect resyncs and
    reconciles from the journal), the callback worker, and on Redis the server of the
    other nodes' PBX requests and the bus's fencing token."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.server: PbxServer | None = None
        if LEASE_REDIS in app:
            self.server = PbxServer(app[LEASE_REDIS], app[SETTINGS].redis_stream,
                                    app[LOCAL_PBX])

    async def start(self, token: int | None = None) -> None:
        app = self.app
        bus = app[BUS]
        if token is not None and isinstance(bus, RedisBus):
            bus.fence_key, bus.fence_token = app[LEASE].key, token
        await app[AMI].start()
        if CALLBACKS in app:
            await app[CALLBACKS].start()
        if SURVEYS in app:
            await app[SURVEYS].start()
        if self.server is not None:
            self.server.start()

    async def stop(self) -> None:
        # the bus keeps the old token: whatever is still published under it is refused
        if self.server is not None:
            await self.server.close()
        if CALLBACKS in self.app:
            await self.app[CALLBACKS].close()
        if SURVEYS in self.app:
            await self.app[SURVEYS].close()
        await self.app[AMI].close()


async def _ownership(app: web.Application) -> AsyncIterator[None]:
    # one AMI owner per PBX: always this node on the in-process bus; on Redis, the
    # holder of the lease (hotline.ownership), with failover
    if AMI not in app:
        yield
        return
    duties = OwnerDuties(app)
    app[OWNER_DUTIES] = duties
    if LEASE not in app:
        await duties.start()
        yield
        await duties.stop()
        return
    settings = app[SETTINGS]
    owner = OwnerLoop(app[LEASE], app[FENCE], renew_s=settings.ami_lease_renew_s,
                      on_gain=duties.start, on_loss=duties.stop)
    app[OWNER] = owner
    await owner.step()  # a lone node is the owner before it serves
    task = asyncio.create_task(owner.run(), name="ami-owner")
    app[OWNER_TASK] = task
    yield
    await stop_task(task)
    if owner.owner:
        await duties.stop()
        bus = app[BUS]
        if isinstance(bus, RedisBus):  # what the link published, written under the lease
            await bus.flush()
    await owner.release()


async def _outbox(app: web.Application) -> AsyncIterator[None]:
    # every node sends notifications; the claim on each row sends each one once
    settings = app[SETTINGS]
    worker = OutboxWorker(app[SESSIONMAKER], senders_from_settings(settings), OutboxConfig(
        poll_s=settings.outbox_poll_s, max_attempts=settings.outbox_max_attempts,
        backoff_s=settings.outbox_backoff_s), name=settings.redis_consumer,
        mailing_links=app[API_AUTH].config.mailing_links)  # group mailings' batches
    app[OUTBOX] = worker
    worker.start()
    yield
    await worker.close()


async def _sla_sweeper(app: web.Application) -> AsyncIterator[None]:
    # one node sweeps: on Redis, the holder of the SLA lease (hotline.sla_worker)
    settings = app[SETTINGS]
    lease = None
    if LEASE_REDIS in app:
        lease = RedisLease(app[LEASE_REDIS], f"{settings.redis_stream}:sla-lease",
                           settings.sla_sweep_s * 3)
    sweeper = SlaSweeper(app[SESSIONMAKER], interval_s=settings.sla_sweep_s,
                         director=settings.sla_director, lease=lease,
                         on_swept=lambda result: app[OUTBOX].wake() if result.messages else None)
    app[SLA_SWEEPER] = sweeper
    sweeper.start()
    yield
    await sweeper.close()


async def _ivr(app: web.Application) -> AsyncIterator[None]:
    # the IVR: FastAGI server -> one flow run per call; agent states from the bus decide
    # whether an account manager is free to take their customer's call first
    settings = app[SETTINGS]
    if not settings.agi_enabled:
        yield
        return
    states = AgentPresence()
    subscription = app[BUS].subscribe("ivr-agents", maxsize=5_000,
                                      types=PRESENCE_EVENT_TYPES)
    pump = asyncio.create_task(follow_agent_states(states, aiter(subscription)),
                               name="ivr-agent-states")
    reader = LookupReader(app[ENGINE], size=4)
    runtime = IvrRuntime(app[ENGINE], reader=reader, agent_free=states.free,
                         region=settings.default_region)
    def survey_done(claim: str) -> None:  # the dialler on this node frees the call's slot
        if SURVEYS in app:
            app[SURVEYS].finished(claim)

    surveys = SurveyCalls(runtime, low=settings.survey_low_score, done=survey_done)

    async def handle(agi: AgiSession) -> None:  # agi://.../survey: an automated survey
        await (surveys.handle if agi.path == SURVEY_SCRIPT else runtime.handle)(agi)

    server = AgiServer(handle, host=settings.agi_host, port=settings.agi_port,
                       command_timeout=settings.agi_command_timeout_s,
                       limits=agi_limits(settings))
    app[IVR] = runtime
    try:
        await server.start()
        app[AGI_SERVER] = server
    except OSError as exc:  # e.g. the port is taken: the rest of Hotline still runs
        log.error("FastAGI cannot listen on %s:%s (%s): NO IVR; the dialplan queues calls "
                  "without it (fail open)", settings.agi_host, settings.agi_port, exc)
    yield
    await server.close()
    await runtime.close()
    pump.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pump
    subscription.close()
    await reader.close()


def agi_limits(settings: Settings) -> AgiLimits:
    """The FastAGI server's caps from the ``agi_*`` settings."""
    return AgiLimits(
        header_timeout=settings.agi_header_timeout_s,
        max_header_bytes=settings.agi_max_header_bytes,
        max_header_lines=settings.agi_max_header_lines,
        max_line=settings.agi_max_line_bytes,
        max_sessions=settings.agi_max_sessions,
        max_sessions_per_peer=settings.agi_max_sessions_per_peer,
    )


def _several_nodes(app: web.Application, settings: Settings, local: PbxActions) -> None:
    """On Redis: the AMI lease (if this node may own the PBX), and the console's controls
    routed to whichever node holds it."""
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2.0,
                           socket_timeout=settings.pbx_request_timeout_s + 5.0)
    app[LEASE_REDIS] = redis
    remote = RemotePbx(redis, settings.redis_stream, timeout=settings.pbx_request_timeout_s,
                       action_budget=settings.ami_action_timeout_s)
    if not settings.ami_enabled:
        app[PBX] = PbxRoute(local, remote, lambda: False)
        return
    fence = Fence(ttl_s=settings.ami_lease_ttl_s)
    app[FENCE] = fence
    app[LEASE] = RedisLease(redis, f"{settings.redis_stream}:ami-lease",
                            settings.ami_lease_ttl_s)
    app[PBX] = PbxRoute(local, remote, lambda: fence.current(time.monotonic()) is not None)


def create_app(settings: Settings) -> web.Application:
    """Build the app; services start with the app runner and stop with it."""
    app = web.Application()
    app[SETTINGS] = settings
    app[TRACKER] = CallTracker(
        region=settings.default_region,
        inbound_contexts=settings.inbound_contexts,
        origin_contexts=settings.origin_contexts,
        hotline_numbers=settings.hotline_numbers,
    )
    local = PbxActions(None, DialPlan(  # no client until the AMI link exists (_ami)
        outbound_context=settings.outbound_context, transfer_context=settings.transfer_context,
        queue_context=settings.queue_transfer_context, caller_name=settings.dial_caller_name,
        caller_number=settings.hotline_numbers[0] if settings.hotline_numbers else ""))
    app[LOCAL_PBX] = local
    app[PBX] = local
    if settings.bus == "redis":
        _several_nodes(app, settings, local)
    app.cleanup_ctx.extend([_database, _bus, _auth_store, _lease_redis, _call_log_writer,
                            _live_hub, _pop_hub, _agent_states, _wallboard, _ami])
    app.cleanup_ctx.append(_callbacks)  # after _ami: it dials through that link
    app.cleanup_ctx.append(_surveys)  # the same: the automated survey's dialler
    app.cleanup_ctx.append(_ownership)  # starts them where and while this node owns the PBX
    app[CALLBACK_OPTIONS] = CallbackOptions(queue=settings.callback_queue,
                                            max_attempts=settings.callback_max_attempts)

    app.cleanup_ctx.append(_ivr)  # FastAGI: calls reach the IVR
    app.cleanup_ctx.extend([_outbox, _sla_sweeper])  # notifications, the SLA clock

    async def calls_json() -> dict[str, Any]:
        return {"live": app[TRACKER].live_calls(), "latest": await app[CALL_LOG].latest(20),
                "waiting": await _waiting(app)}

    async def live_socket(request: web.Request) -> web.StreamResponse:
        # routes exist before startup builds the hub
        return await app[HUB].handle(request)

    add_routes(app, live_socket, calls_json)
    add_wallboard_routes(app, lambda: app[WALLBOARD])  # routes exist before startup

    async def agent_socket(request: web.Request) -> web.StreamResponse:
        return await app[POP_HUB].handle(request)

    app.router.add_get("/ws/agent", agent_socket)
    api = create_api_app(ApiConfig.from_settings(settings))
    app[API_AUTH] = api[AUTH]
    add_root(app)  # / -> the console, the records or sign-in
    add_pages(app, api[AUTH])  # /login, /console, /records: the agent console's pages
    add_unsubscribe(app, api[AUTH].config.mailing_links)  # public: a mailing's opt-out
    app.add_subapp("/api/v1", api)
    return app
