"""PBX simulator state and AMI event text, shaped like the captured Asterisk 22.

Rules:
- every event is built as text in the exact field order of the captures
  (``../shared/asterisk/*.ami``): a channel snapshot is 14 lines, prefixed
  (``Dest``, ``Spyer``, ``Transferee``...) on two-channel events;
- a channel caches its snapshot text per prefix and drops the cache when it
  changes, so a busy simulator builds each snapshot once, not once per event;
- values never contain CR/LF (``clean`` strips them at the door);
- nothing here does I/O: :class:`EventSink` receives finished bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from telephony.personal_queues import personal_queue

EventSink = Callable[[bytes, str], None]  # (encoded message, privilege class)

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
UNKNOWN = "<unknown>"

# device state codes, as in QueueMemberStatus Status
DEV_NOT_INUSE = 1
DEV_INUSE = 2
DEV_BUSY = 3
DEV_UNAVAILABLE = 5
DEVICE_STATE_NAMES = {1: "NOT_INUSE", 2: "INUSE", 3: "BUSY", 5: "UNAVAILABLE", 6: "RINGING"}

CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    21: "Call Rejected",
}


def clean(text: object) -> str:
    """A value safe for one AMI header line."""
    return str(text).replace("\r", " ").replace("\n", " ")


@dataclass
class AgentSpec:
    """One agent phone (a queue member interface) and how it behaves.

    ``mode``: answer | noanswer | busy | unavailable. ``ring_s``: seconds the
    phone rings before the agent answers. ``talk_s``: when set, the agent
    hangs up after that many seconds of conversation (like the burst agents).
    """

    interface: str
    name: str
    # the capture rig: her static queues; Hotline's dialplan: the queues her sign-in
    # adds her to (Pbx.sign_in), her personal queue last
    queues: tuple[str, ...] = ("support",)
    mode: str = "answer"
    ring_s: float = 2.0
    talk_s: float | None = None
    penalty: int = 0


@dataclass
class CustomerSpec:
    """An outside number the hotline dials (click-to-dial, callbacks) and how it answers.

    ``mode``: answer (rings ``ring_s``, talks ``talk_s``, then the customer hangs up) |
    busy (DialStatus BUSY, cause 17) | noanswer (rings until the dialplan's Dial timeout:
    NOANSWER, cause 19) | unavailable (CHANUNAVAIL at once). Defaults: capture 07.
    ``keys``: what they press in an IVR that calls them (``survey_calls``).
    """

    mode: str = "answer"
    ring_s: float = 2.0
    talk_s: float = 3.5
    # what they press when the IVR calls them (the automated survey): one input per
    # question, ``agi_caller.parse_ivr_inputs`` ("5,T,9,2": 5, silence, 9, 2)
    keys: str = ""


@dataclass
class QueueSpec:
    """A queue as configured in queues.conf (members are added from AgentSpec.queues)."""

    name: str
    strategy: str = "linear"  # linear | rrmemory | ringall(treated as linear)
    timeout: float = 5.0  # ring each member at most this long
    retry: float = 1.0
    weight: int = 0
    servicelevel: int = 20
    maxwait: float = 60.0  # the Queue() timeout argument of the dialplan
    # joinempty=yes (True) lets a caller in whatever the members do; False is the
    # personal queues' "paused,inuse,ringing,unavailable,invalid,unknown,wrapup": no free
    # member, no join (QUEUESTATUS=JOINEMPTY)
    joinempty: bool = True


def default_agents() -> list[AgentSpec]:
    """The agents of conf/queues.conf: Alice/Bob/Carol and the three burst agents."""
    return [
        AgentSpec("Local/1001@agents/n", "Alice", ("support", "vip")),
        AgentSpec("Local/1002@agents/n", "Bob", ("support",)),
        AgentSpec("Local/1003@agents/n", "Carol", ("vip", "support")),
        AgentSpec("Local/2001@agents/n", "Agent2001", ("burst",), ring_s=1.0, talk_s=3.0),
        AgentSpec("Local/2002@agents/n", "Agent2002", ("burst",), ring_s=1.0, talk_s=3.0),
        AgentSpec("Local/2003@agents/n", "Agent2003", ("burst",), ring_s=1.0, talk_s=3.0),
    ]


def default_queues() -> list[QueueSpec]:
    return [
        QueueSpec("support", "linear", timeout=5, retry=1, servicelevel=20),
        QueueSpec("vip", "rrmemory", timeout=10, retry=1, weight=10, servicelevel=10),
        QueueSpec("burst", "rrmemory", timeout=8, retry=1, servicelevel=20),
    ]


def personal_queues(agents: Sequence[AgentSpec], ring_s: float = 15.0) -> list[QueueSpec]:
    """One ``agent-<ext>`` queue per agent, as in deploy/asterisk/queues.conf: the
    ``personal`` template (ringall, one ring round, joinempty/leavewhenempty refuse a
    queue without a free member) and NO member: Hotline's sign-in adds the agent
    (QueueAdd, a dynamic member; ``telephony.personal_queues``)."""
    out: list[QueueSpec] = []
    for agent in agents:
        name = personal_queue(agent.interface)
        if name:
            out.append(QueueSpec(name, "linear", timeout=ring_s, retry=1,
                                 maxwait=ring_s, joinempty=False))
    return out


# The member order of conf/queues.conf (vip lists Carol before Alice; Alice has penalty 1 there).
_CONF_ORDER = {"vip": ["Local/1003@agents/n", "Local/1001@agents/n"]}
_CONF_PENALTY = {("vip", "Local/1001@agents/n"): 1}


class Chan:
    """One channel and its cached AMI snapshot."""

    __slots__ = (
        "name", "uniqueid", "linkedid", "state", "cid_num", "cid_name", "conn_num", "conn_name",
        "context", "exten", "priority", "app", "appdata", "bridge", "created", "answered",
        "peer", "call", "kind", "variables", "hangupsource", "_cache",
    )

    def __init__(self, name: str, uniqueid: str, linkedid: str, *, state: int, context: str,
                 exten: str, created: float, kind: str = "") -> None:
        self.name = name
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.state = state
        self.cid_num = UNKNOWN
        self.cid_name = UNKNOWN
        self.conn_num = UNKNOWN
        self.conn_name = UNKNOWN
        self.context = context
        self.exten = exten
        self.priority = 1
        self.app = ""
        self.appdata = ""
        self.bridge: Bridge | None = None
        self.created = created
        self.answered: float | None = None
        self.peer: Chan | None = None  # the other half of a Local pair
        self.call: object | None = None  # the SimCall this channel belongs to
        self.kind = kind  # caller1 | caller2 | agent1 | agent2 | desk1 | ... | spy1 | c2d1
        # who ended it, as CEL's HANGUP tells: the dialplan's Hangup() writes
        # "dialplan/builtin"; Local channels and AMI hang-ups leave it empty (channel.c)
        self.hangupsource = ""
        # its channel variables, names without the inheritance underscores (the AMI
        # Status action lists them, as Asterisk's ast_var_name gives them)
        self.variables: dict[str, str] = {}
        self._cache: dict[str, str] = {}

    def set(self, **changes: object) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        self._cache.clear()

    def snap(self, p: str = "") -> str:
        text = self._cache.get(p)
        if text is None:
            text = (
                f"{p}Channel: {self.name}\r\n{p}ChannelState: {self.state}\r\n"
                f"{p}ChannelStateDesc: {STATE_DESC.get(self.state, 'Up')}\r\n"
                f"{p}CallerIDNum: {self.cid_num}\r\n{p}CallerIDName: {self.cid_name}\r\n"
                f"{p}ConnectedLineNum: {self.conn_num}\r\n"
                f"{p}ConnectedLineName: {self.conn_name}\r\n"
                f"{p}Language: en\r\n{p}AccountCode: \r\n{p}Context: {self.context}\r\n"
                f"{p}Exten: {self.exten}\r\n{p}Priority: {self.priority}\r\n"
                f"{p}Uniqueid: {self.uniqueid}\r\n{p}Linkedid: {self.linkedid}\r\n"
            )
            self._cache[p] = text
        return text


class Bridge:
    __slots__ = ("id", "channels")

    def __init__(self, bridge_id: str) -> None:
        self.id = bridge_id
        self.channels: list[Chan] = []

    def text(self, p: str = "", count: int | None = None) -> str:
        n = len(self.channels) if count is None else count
        return (
            f"{p}BridgeUniqueid: {self.id}\r\n{p}BridgeType: basic\r\n"
            f"{p}BridgeTechnology: simple_bridge\r\n{p}BridgeCreator: <unknown>\r\n"
            f"{p}BridgeName: <unknown>\r\n{p}BridgeNumChannels: {n}\r\n"
            f"{p}BridgeVideoSourceMode: none\r\n"
        )


@dataclass
class Agent:
    """Device-level state of one agent phone, shared by every queue it is in."""

    spec: AgentSpec
    status: int = DEV_NOT_INUSE
    in_call: bool = False
    calls_taken: int = 0
    last_call: int = 0

    @property
    def interface(self) -> str:
        return self.spec.interface

    @property
    def state_interface(self) -> str:
        iface = self.spec.interface
        return iface[:-2] if iface.endswith("/n") else iface


@dataclass
class Member:
    """An agent's membership in one queue."""

    agent: Agent
    name: str
    penalty: int = 0
    dynamic: bool = False
    paused: bool = False
    reason: str = ""
    last_pause: int = 0
    login_time: int = 0
    state_interface: str = ""


@dataclass
class Queue:
    spec: QueueSpec
    members: dict[str, Member] = field(default_factory=dict)
    entries: list[object] = field(default_factory=list)  # SimCalls waiting, in order
    completed: int = 0
    abandoned: int = 0
    holdtime_total: int = 0
    talktime_total: int = 0
    within_sl: int = 0
    rr_last: int = -1

    @property
    def name(self) -> str:
        return self.spec.name

    def avg_hold(self) -> int:
        return self.holdtime_total // self.completed if self.completed else 0

    def avg_talk(self) -> int:
        return self.talktime_total // self.completed if self.completed else 0

    def sl_perf(self) -> str:
        return f"{(100.0 * self.within_sl / self.completed) if self.completed else 0.0:.1f}"


def build_members(agents: Sequence[AgentSpec], queues: Sequence[QueueSpec],
                  login_time: int, *, static: bool = True,
                  ) -> tuple[dict[str, Agent], dict[str, Queue]]:
    """Agents by interface and queues by name, members in queues.conf order.

    ``static``: each agent a static member of her ``queues`` (the capture rig's
    queues.conf); False: every queue empty, as deploy/asterisk/queues.conf ships them
    (Hotline's sign-in adds her, QueueAdd)."""
    by_if = {a.interface: Agent(a) for a in agents}
    out: dict[str, Queue] = {}
    for qs in queues:
        q = Queue(qs)
        out[qs.name] = q
        if not static:
            continue
        names = [a.interface for a in agents if qs.name in a.queues]
        order = _CONF_ORDER.get(qs.name, [])
        names.sort(key=lambda i: order.index(i) if i in order else len(order))
        for iface in names:
            agent = by_if[iface]
            penalty = _CONF_PENALTY.get((qs.name, iface), agent.spec.penalty)
            q.members[iface] = Member(agent, agent.spec.name, penalty=penalty,
                                      login_time=login_time,
                                      state_interface=agent.state_interface)
    return by_if, out


def member_text(m: Member, queue: str, *, with_ringinuse: bool = True) -> str:
    """The QueueMember* event body (QueueMemberStatus/Pause/Added/Removed/Penalty)."""
    a = m.agent
    text = (
        f"Queue: {queue}\r\nMemberName: {m.name}\r\nInterface: {a.interface}\r\n"
        f"StateInterface: {m.state_interface}\r\n"
        f"Membership: {'dynamic' if m.dynamic else 'static'}\r\nPenalty: {m.penalty}\r\n"
        f"CallsTaken: {a.calls_taken}\r\nLastCall: {a.last_call}\r\nLastPause: {m.last_pause}\r\n"
        f"LoginTime: {m.login_time}\r\nInCall: {int(a.in_call)}\r\nStatus: {a.status}\r\n"
        f"Paused: {int(m.paused)}\r\nPausedReason: {m.reason if m.paused else ''}\r\n"
    )
    if with_ringinuse:
        text += "Ringinuse: 0\r\n"
    return text + "Wrapuptime: 0\r\n"
