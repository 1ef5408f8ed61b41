"""The PBX simulator as a real AMI server over TCP (``asyncio.start_server``).

Rules:
- it speaks what the captured Asterisk 22 speaks: banner line, Login (plain
  and MD5 challenge), ``Permission denied`` before login, a ~1 s (scaled)
  delay then close on a wrong secret, ``Events:`` filter by privilege class,
  every response carries the client's ActionID, list actions answer with
  ``EventList: start`` ... ``XxxComplete`` / ``ListItems``;
- every client has its own output batch, flushed once per loop iteration into
  the transport (few large writes, realistic TCP chunking); a client that
  stops reading is disconnected once its transport buffer passes
  ``max_client_buffer`` bytes, like Asterisk drops a session whose writes time
  out, so memory stays bounded (``slow_clients_dropped`` counts them);
- bad input never kills the server: a malformed message is counted and
  skipped, an exception in an action is logged and answered with an error;
- the control API (:class:`PbxSimulator`) is what tests and the demo use:
  reset, canned responses, slow actions (a busy Asterisk answering late), the log
  of received actions, outages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telephony.ami_codec import AmiDecoder, encode_message
from telephony.simulator.agi_caller import AgiTarget
from telephony.simulator.model import STATE_DESC, AgentSpec, QueueSpec
from telephony.simulator.pbx import CallScript, Pbx, SimCall

log = logging.getLogger("telephony.simulator.server")

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
CLASSES = ("system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
           "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
           "message")

Message = dict[str, str]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on", "y", "t")


def parse_event_mask(value: str | None) -> set[str] | None:
    """``on`` -> None (everything), ``off`` -> empty set, ``call,agent`` -> those classes."""
    text = (value or "on").strip().lower()
    if text in ("on", "yes", "true", "1", "all"):
        return None
    if text in ("off", "no", "false", "0", ""):
        return set()
    parts = {p.strip() for p in text.split(",") if p.strip()}
    return None if "all" in parts else parts


class Session:
    """One TCP client of the AMI server."""

    def __init__(self, server: AmiServer, writer: asyncio.StreamWriter, number: int) -> None:
        self.server = server
        self.writer = writer
        self.transport = writer.transport
        self.decoder = AmiDecoder(expect_banner=False)
        self.authenticated = False
        self.mask: set[str] | None = None
        self.challenge: str | None = None
        self.username = ""
        self.closed = False
        self._batch: list[bytes] = []
        self._flush_scheduled = False
        self.session_id = f"0x{0x7f0000000000 + number * 0x1000:x}"
        self.started = time.time()
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        sock = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        self.local = f"IPV4/TCP/{sock[0]}/{sock[1]}"

    def accepts(self, cls: str) -> bool:
        return self.mask is None or cls in self.mask

    def write(self, data: bytes) -> None:
        if self.closed or self.server.output_paused:
            return
        self._batch.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def reply(self, msg: Message) -> None:
        self.write(encode_message(msg))

    def flush(self) -> None:
        self._flush_scheduled = False
        if self.closed or not self._batch:
            self._batch.clear()
            return
        data = b"".join(self._batch)
        self._batch.clear()
        try:
            self.transport.write(data)
        except (ConnectionError, RuntimeError):
            self.abort()
            return
        if self.transport.get_write_buffer_size() > self.server.max_client_buffer:
            self.server.slow_clients_dropped += 1
            log.warning("AMI client %s does not read: disconnected (%d bytes pending)",
                        self.remote, self.transport.get_write_buffer_size())
            self.abort()

    def close(self) -> None:
        """Flush what is pending, then close (Logoff, auth failure)."""
        if self.closed:
            return
        self.flush()
        self.closed = True
        self.server.forget(self)
        self.transport.close()

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._batch.clear()
        self.server.forget(self)
        self.transport.abort()


Handler = Callable[[Session, Message, str | None], Awaitable[None]]


class AmiServer:
    """TCP server, sessions and the AMI actions, in front of a :class:`Pbx`."""

    def __init__(self, pbx: Pbx, *, host: str, port: int, username: str, secret: str,
                 max_client_buffer: int = 8 << 20) -> None:
        self.pbx = pbx
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.max_client_buffer = max_client_buffer
        self.sessions: set[Session] = set()
        self.authed: list[Session] = []
        self.actions: list[Message] = []
        self.canned: dict[str, Message] = {}
        self.slow: dict[str, float] = {}  # action -> seconds before it is answered
        self.output_paused = False
        self.refuse = False
        self.slow_clients_dropped = 0
        self.bad_messages = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._count = 0
        self.on_login: Callable[[], None] | None = None
        self.handlers: dict[str, Handler] = {
            "login": self.a_login, "challenge": self.a_challenge, "logoff": self.a_logoff,
            "ping": self.a_ping, "events": self.a_events, "originate": self.a_originate,
            "hangup": self.a_hangup, "redirect": self.a_redirect,
            "blindtransfer": self.a_blindtransfer, "atxfer": self.a_atxfer,
            "queueadd": self.a_queueadd, "queueremove": self.a_queueremove,
            "queuepause": self.a_queuepause, "queuepenalty": self.a_queuepenalty,
            "queuestatus": self.a_queuestatus, "queuesummary": self.a_queuesummary,
            "coreshowchannels": self.a_coreshowchannels, "status": self.a_status,
            "command": self.a_command, "corestatus": self.a_corestatus,
            "bridgelist": self.a_bridgelist, "setvar": self.a_setvar,
        }

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for s in list(self.sessions):
            s.abort()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def forget(self, s: Session) -> None:
        self.sessions.discard(s)
        if s in self.authed:
            self.authed.remove(s)

    def broadcast(self, data: bytes, cls: str) -> None:
        """Sink of the PBX: one event to every logged-in client whose filter takes it."""
        for s in self.authed:
            if s.mask is None or cls in s.mask:
                s.write(data)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------- reader
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.transport.abort()
            return
        self._count += 1
        s = Session(self, writer, self._count)
        self.sessions.add(s)
        writer.transport.write(BANNER)
        try:
            while not s.closed:
                data = await reader.read(65536)
                if not data:
                    break
                for msg in s.decoder.feed(data):
                    if s.closed:
                        break
                    await self._dispatch(s, msg)
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            s.abort()
            raise
        finally:
            if not s.closed:
                s.close()

    async def _dispatch(self, s: Session, msg: Message) -> None:
        action = msg.get("Action")
        aid = msg.get("ActionID")
        if not action:
            self.bad_messages += 1
            if not self.output_paused:
                s.reply(_resp("Error", aid, Message="Missing action in request"))
            return
        self.actions.append(dict(msg))
        if self.output_paused:
            return
        name = action.strip().lower()
        canned = self.canned.get(name)
        if canned is not None:
            out = {"Response": canned.get("Response", "Success")}
            if aid is not None:
                out["ActionID"] = aid
            out.update({k: v for k, v in canned.items() if k != "Response"})
            s.reply(out)
            if name == "login" and out["Response"] == "Success":
                self._logged_in(s, msg)
            return
        if not s.authenticated and name not in ("login", "challenge"):
            s.reply(_resp("Error", aid, Message="Permission denied"))
            return
        delay = self.slow.get(name)
        if delay:  # the session's next actions wait too, as behind a busy Asterisk's
            await asyncio.sleep(delay)
        handler = self.handlers.get(name)
        if handler is None:
            s.reply(_resp("Error", aid, Message=f"Invalid/unknown command: {action}. "
                          "Use Action: ListCommands to show available commands."))
            self._security_event(s, "RequestBadFormat", "Error",
                                 {"RequestType": f"Action: {action}", "AccountID": s.username})
            return
        try:
            await handler(s, msg, aid)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("action %s failed", action)
            s.reply(_resp("Error", aid, Message="Internal error"))

    def _security_event(self, s: Session, name: str, severity: str,
                        extra: dict[str, str]) -> None:
        if not s.accepts("security"):
            return
        tv = _event_tv(time.time())
        body: Message = {"Event": name, "Privilege": "security,all", "EventTV": tv,
                         "Severity": severity, "Service": "AMI", "EventVersion": "1"}
        if name == "SuccessfulAuth":
            body.update({"AccountID": s.username, "SessionID": s.session_id,
                         "LocalAddress": s.local, "RemoteAddress": s.remote,
                         "UsingPassword": "0", "SessionTV": _event_tv(s.started)})
        else:
            body.update({"SessionID": s.session_id, "LocalAddress": s.local,
                         "RemoteAddress": s.remote})
            body.update({k: v for k, v in extra.items() if k != "AccountID"})
            body["SessionTV"] = _event_tv(s.started)
            body["AccountID"] = extra.get("AccountID", s.username)
        s.write(encode_message(body))

    # ---------------------------------------------------------------- login
    async def a_login(self, s: Session, msg: Message, aid: str | None) -> None:
        ok = msg.get("Username") == self.username
        if ok and (msg.get("AuthType") or "").lower() == "md5":
            expected = hashlib.md5(((s.challenge or "") + self.secret).encode()).hexdigest()
            ok = s.challenge is not None and msg.get("Key", "").lower() == expected
        elif ok:
            ok = msg.get("Secret") == self.secret
        if not ok:
            await asyncio.sleep(1.0 * self.pbx.time_scale)
            s.reply(_resp("Error", aid, Message="Authentication failed"))
            s.close()
            return
        s.reply(_resp("Success", aid, Message="Authentication accepted"))
        self._logged_in(s, msg)

    def _logged_in(self, s: Session, msg: Message) -> None:
        s.username = msg.get("Username", self.username)
        s.mask = parse_event_mask(msg.get("Events"))
        if not s.authenticated:
            s.authenticated = True
            self.authed.append(s)
        if s.accepts("system"):
            up = int(time.time() - self.pbx.started_at)
            s.write(encode_message({"Event": "FullyBooted", "Privilege": "system,all",
                                    "Uptime": str(up), "LastReload": str(up),
                                    "Status": "Fully Booted"}))
        self._security_event(s, "SuccessfulAuth", "Informational", {})
        if self.on_login is not None:
            self.on_login()

    async def a_challenge(self, s: Session, msg: Message, aid: str | None) -> None:
        if (msg.get("AuthType") or "").lower() != "md5":
            s.reply(_resp("Error", aid, Message="Must specify AuthType"))
            return
        s.challenge = str(self.pbx.rng.randrange(100_000_000, 999_999_999))
        s.reply(_resp("Success", aid, Challenge=s.challenge))

    async def a_logoff(self, s: Session, msg: Message, aid: str | None) -> None:
        s.reply(_resp("Goodbye", aid, Message="Thanks for all the fish."))
        s.close()

    async def a_ping(self, s: Session, msg: Message, aid: str | None) -> None:
        s.reply(_resp("Success", aid, Ping="Pong", Timestamp=f"{time.time():.6f}"))

    async def a_events(self, s: Session, msg: Message, aid: str | None) -> None:
        s.mask = parse_event_mask(msg.get("EventMask"))
        s.reply(_resp("Success", aid, Events="Off" if s.mask == set() else "On"))

    # ------------------------------------------------------------ call actions
    async def a_originate(self, s: Session, msg: Message, aid: str | None) -> None:
        if not msg.get("Channel"):
            s.reply(_resp("Error", aid, Message="Channel not specified"))
            return
        if _truthy(msg.get("Async")):
            s.reply(_resp("Success", aid, Message="Originate successfully queued"))
            self.spawn(self.pbx.originate(msg, aid, True))
            return
        ok, _reason = await self.pbx.originate(msg, aid, False)
        if ok:
            s.reply(_resp("Success", aid, Message="Originate successfully queued"))
        else:
            s.reply(_resp("Error", aid, Message="Originate failed"))

    async def a_hangup(self, s: Session, msg: Message, aid: str | None) -> None:
        name = msg.get("Channel", "")
        try:
            cause = int(msg.get("Cause", "16") or 16)
        except ValueError:
            cause = 16
        if self.pbx.hangup_channel(name, cause):
            s.reply(_resp("Success", aid, Message="Channel Hungup"))
        else:
            s.reply(_resp("Error", aid, Message="No such channel"))

    def _call_of(self, name: str, kinds: tuple[str, ...]) -> SimCall | None:
        found = self.pbx.channel_call(name)
        if found is None:
            return None
        chan, call = found
        if call is None or not chan.kind.startswith(kinds):
            return None
        return call

    async def a_redirect(self, s: Session, msg: Message, aid: str | None) -> None:
        call = self._call_of(msg.get("Channel", ""), ("caller",))
        if call is None:
            s.reply(_resp("Error", aid, Message="Channel does not exist: "
                          + msg.get("Channel", "")))
            return
        call.command("redirect", msg.get("Exten", ""), msg.get("Context", "internal"))
        s.reply(_resp("Success", aid, Message="Redirect successful"))

    async def a_blindtransfer(self, s: Session, msg: Message, aid: str | None) -> None:
        call = self._call_of(msg.get("Channel", ""), ("agent",))
        if call is None:
            s.reply(_resp("Error", aid, Message="No channel found with name "
                          + msg.get("Channel", "")))
            return
        call.command("blind", msg.get("Exten", ""), msg.get("Context", "internal"))
        s.reply(_resp("Success", aid, Message="Transfer succeeded"))

    async def a_atxfer(self, s: Session, msg: Message, aid: str | None) -> None:
        call = self._call_of(msg.get("Channel", ""), ("agent",))
        if call is None:
            s.reply(_resp("Error", aid, Message="No such channel"))
            return
        call.command("atxfer", msg.get("Exten", ""), msg.get("Context", "internal"))
        s.reply(_resp("Success", aid, Message="Atxfer successfully queued"))

    async def a_setvar(self, s: Session, msg: Message, aid: str | None) -> None:
        s.reply(_resp("Success", aid, Message="Variable Set"))

    # ----------------------------------------------------------- queue actions
    async def a_queueadd(self, s: Session, msg: Message, aid: str | None) -> None:
        queue, iface = msg.get("Queue", ""), msg.get("Interface", "")
        if not queue or not iface:
            s.reply(_resp("Error", aid, Message="'Queue' and 'Interface' not specified."))
            return
        err = self.pbx.queue_add(queue, iface, msg.get("MemberName", ""),
                                 _int(msg.get("Penalty"), 0), msg.get("StateInterface", ""),
                                 _truthy(msg.get("Paused")))
        if err:
            s.reply(_resp("Error", aid, Message=err))
        else:
            s.reply(_resp("Success", aid, Message="Added interface to queue"))

    async def a_queueremove(self, s: Session, msg: Message, aid: str | None) -> None:
        err = self.pbx.queue_remove(msg.get("Queue", ""), msg.get("Interface", ""))
        if err:
            s.reply(_resp("Error", aid, Message=err))
        else:
            s.reply(_resp("Success", aid, Message="Removed interface from queue"))

    async def a_queuepause(self, s: Session, msg: Message, aid: str | None) -> None:
        iface = msg.get("Interface", "")
        if not iface:
            s.reply(_resp("Error", aid, Message="Need 'Interface' and 'Paused' parameters."))
            return
        paused = _truthy(msg.get("Paused"))
        if not self.pbx.pause(iface, msg.get("Queue") or None, paused, msg.get("Reason", "")):
            s.reply(_resp("Error", aid, Message="Interface not found"))
            return
        word = "paused" if paused else "unpaused"
        s.reply(_resp("Success", aid, Message=f"Interface {word} successfully"))

    async def a_queuepenalty(self, s: Session, msg: Message, aid: str | None) -> None:
        ok = self.pbx.queue_penalty(msg.get("Interface", ""), _int(msg.get("Penalty"), 0),
                                    msg.get("Queue") or None)
        if ok:
            s.reply(_resp("Success", aid, Message="Interface penalty set successfully"))
        else:
            s.reply(_resp("Error", aid, Message="Invalid interface, queuename or penalty"))

    def _list(self, s: Session, aid: str | None, message: str, items: list[Message],
              complete: str, **extra: str) -> None:
        s.reply(_resp("Success", aid, EventList="start", Message=message))
        for item in items:
            if aid is not None:
                item["ActionID"] = aid
            s.reply(item)
        done: Message = {"Event": complete}
        if aid is not None:
            done["ActionID"] = aid
        done.update({"EventList": "Complete", "ListItems": str(len(items)), **extra})
        s.reply(done)

    async def a_queuestatus(self, s: Session, msg: Message, aid: str | None) -> None:
        qfilter, mfilter = msg.get("Queue") or None, msg.get("Member") or None
        items: list[Message] = []
        now = self.pbx.now()
        for q in self.pbx.queues.values():
            if qfilter and q.name != qfilter:
                continue
            items.append({"Event": "QueueParams", "Queue": q.name, "Max": "0",
                          "Strategy": q.spec.strategy, "Calls": str(len(q.entries)),
                          "Holdtime": str(q.avg_hold()), "TalkTime": str(q.avg_talk()),
                          "Completed": str(q.completed), "Abandoned": str(q.abandoned),
                          "ServiceLevel": str(q.spec.servicelevel),
                          "ServicelevelPerf": q.sl_perf(), "ServicelevelPerf2": q.sl_perf(),
                          "Weight": str(q.spec.weight)})
            for m in q.members.values():
                if mfilter and m.agent.interface != mfilter and m.name != mfilter:
                    continue
                a = m.agent
                items.append({"Event": "QueueMember", "Queue": q.name, "Name": m.name,
                              "Location": a.interface, "StateInterface": m.state_interface,
                              "Membership": "dynamic" if m.dynamic else "static",
                              "Penalty": str(m.penalty), "CallsTaken": str(a.calls_taken),
                              "LastCall": str(a.last_call), "LastPause": str(m.last_pause),
                              "LoginTime": str(m.login_time), "InCall": str(int(a.in_call)),
                              "Status": str(a.status), "Paused": str(int(m.paused)),
                              "PausedReason": m.reason if m.paused else "", "Wrapuptime": "0"})
            if mfilter:
                continue
            for pos, call in enumerate(q.entries, 1):
                if not isinstance(call, SimCall) or call.c2 is None:
                    continue
                c2 = call.c2
                items.append({"Event": "QueueEntry", "Queue": q.name, "Position": str(pos),
                              "Channel": c2.name, "Uniqueid": c2.uniqueid,
                              "CallerIDNum": c2.cid_num, "CallerIDName": c2.cid_name,
                              "ConnectedLineNum": c2.conn_num,
                              "ConnectedLineName": c2.conn_name,
                              "Wait": str(int(now - (call.joined or now))),
                              "Priority": str(call.priority)})
        self._list(s, aid, "Queue status will follow", items, "QueueStatusComplete")

    async def a_queuesummary(self, s: Session, msg: Message, aid: str | None) -> None:
        qfilter = msg.get("Queue") or None
        items: list[Message] = []
        for q in self.pbx.queues.values():
            if qfilter and q.name != qfilter:
                continue
            items.append({"Event": "QueueSummary", **self.pbx.queue_summary(q)})
        self._list(s, aid, "Queue summary will follow", items, "QueueSummaryComplete")

    # ---------------------------------------------------------- channel lists
    def _snapshot(self, c: Any) -> Message:
        return {"Channel": c.name, "ChannelState": str(c.state),
                "ChannelStateDesc": STATE_DESC.get(c.state, "Up"), "CallerIDNum": c.cid_num,
                "CallerIDName": c.cid_name, "ConnectedLineNum": c.conn_num,
                "ConnectedLineName": c.conn_name, "Language": "en", "AccountCode": "",
                "Context": c.context, "Exten": c.exten, "Priority": str(c.priority),
                "Uniqueid": c.uniqueid, "Linkedid": c.linkedid}

    async def a_coreshowchannels(self, s: Session, msg: Message, aid: str | None) -> None:
        now = self.pbx.now()
        items: list[Message] = []
        for c in list(self.pbx.channels.values()):
            item: Message = {"Event": "CoreShowChannel"}
            if aid is not None:
                item["ActionID"] = aid
            item.update(self._snapshot(c))
            item.update({"Application": c.app, "ApplicationData": c.appdata,
                         "Duration": _hms(now - c.created),
                         "BridgeId": c.bridge.id if c.bridge else ""})
            items.append(item)
        self._list(s, aid, "Channels will follow", items, "CoreShowChannelsComplete")

    async def a_status(self, s: Session, msg: Message, aid: str | None) -> None:
        """As Asterisk 22 (manager.c action_status / generate_status): one Status event
        per channel, ending with its ``Variable: NAME=value`` lines: the ``Variables``
        asked for (comma separated; empty when unset), then with ``AllVariables`` every
        variable the channel holds (names without inheritance underscores)."""
        now = self.pbx.now()
        asked = [v.strip() for v in msg.get("Variables", "").split(",") if v.strip()]
        every = _truthy(msg.get("AllVariables"))
        want = msg.get("Channel") or None
        if want and want not in self.pbx.channels:
            s.reply(_resp("Error", aid, Message="No such channel"))
            return
        items: list[Message] = []
        for c in list(self.pbx.channels.values()):
            if want and c.name != want:
                continue
            item: Message = {"Event": "Status", "Privilege": "Call"}
            item.update(self._snapshot(c))
            item.update({"Type": "Local", "DNID": "", "EffectiveConnectedLineNum": c.conn_num,
                         "EffectiveConnectedLineName": c.conn_name, "TimeToHangup": "0",
                         "BridgeID": c.bridge.id if c.bridge else "", "Application": c.app,
                         "Data": c.appdata, "Nativeformats": "(slin)", "Readformat": "slin",
                         "Readtrans": "", "Writeformat": "slin", "Writetrans": "",
                         "Callgroup": "0", "Pickupgroup": "0",
                         "Seconds": str(int(now - c.created))})
            lines = [f"{name}={c.variables.get(name.lstrip('_'), '')}" for name in asked]
            if every:
                lines += [f"{name}={value}" for name, value in c.variables.items()]
            if lines:
                item["Variable"] = "\n".join(lines)  # one "Variable:" header per line
            items.append(item)
        self._list(s, aid, "Channel status will follow", items, "StatusComplete",
                   Items=str(len(items)))

    async def a_bridgelist(self, s: Session, msg: Message, aid: str | None) -> None:
        items: list[Message] = []
        for b in list(self.pbx.bridges.values()):
            items.append({"Event": "BridgeListItem", "BridgeUniqueid": b.id,
                          "BridgeType": "basic", "BridgeTechnology": "simple_bridge",
                          "BridgeCreator": "<unknown>", "BridgeName": "<unknown>",
                          "BridgeNumChannels": str(len(b.channels)),
                          "BridgeVideoSourceMode": "none"})
        self._list(s, aid, "Bridge listing will follow", items, "BridgeListComplete")

    async def a_command(self, s: Session, msg: Message, aid: str | None) -> None:
        cmd = " ".join(msg.get("Command", "").split()).lower()
        now = self.pbx.now()
        if cmd.startswith("core show channels"):
            lines = [
                "!".join([c.name, c.context, c.exten, str(c.priority),
                          STATE_DESC.get(c.state, "Up"), c.app, c.appdata,
                          c.cid_num, "", "", "3", str(int(now - c.created)),
                          c.bridge.id if c.bridge else "", c.uniqueid])
                for c in self.pbx.channels.values()
            ]
        elif cmd.startswith("queue show"):
            lines = []
            for q in self.pbx.queues.values():
                if cmd != "queue show" and not cmd.endswith(" " + q.name):
                    continue
                lines.append(f"{q.name} has {len(q.entries)} calls (max unlimited) in "
                             f"'{q.spec.strategy}' strategy ({q.avg_hold()}s holdtime, "
                             f"{q.avg_talk()}s talktime), W:{q.spec.weight}, "
                             f"C:{q.completed}, A:{q.abandoned}, SL:{q.sl_perf()}%")
                lines.append("   Members: ")
                lines.extend(f"      {m.name} ({m.agent.interface}) "
                             f"{'(paused) ' if m.paused else ''}status {m.agent.status}"
                             for m in q.members.values())
        elif cmd == "core show version":
            lines = ["Asterisk 22.10.1 built by hotline-simulator"]
        else:
            lines = [f"No such command '{msg.get('Command', '')}' "
                     "(type 'core show help' for help)"]
        out: Message = _resp("Success", aid, Message="Command output follows")
        out["Output"] = "\n".join(lines) if lines else ""
        s.reply(out)

    async def a_corestatus(self, s: Session, msg: Message, aid: str | None) -> None:
        started = time.gmtime(self.pbx.started_at)
        s.reply(_resp("Success", aid,
                      CoreStartupDate=time.strftime("%Y-%m-%d", started),
                      CoreStartupTime=time.strftime("%H:%M:%S", started),
                      CoreReloadDate=time.strftime("%Y-%m-%d", started),
                      CoreReloadTime=time.strftime("%H:%M:%S", started),
                      CoreCurrentCalls=str(len(self.pbx.calls)),
                      CoreProcessedCalls=str(self.pbx.processed_calls)))


def _resp(response: str, aid: str | None, **fields: str) -> Message:
    out: Message = {"Response": response}
    if aid is not None:
        out["ActionID"] = aid
    out.update(fields)
    return out


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def _hms(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _event_tv(epoch: float) -> str:
    ms = int((epoch % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{ms:03d}+0000"


class PbxSimulator:
    """A simulated Asterisk: real AMI over TCP plus a control API for tests and demos.

    Times are simulated seconds; ``time_scale`` is wall seconds per simulated
    second (0.01 makes a 60 s call take 0.6 s). HoldTime/RingTime/TalkTime are
    reported in simulated seconds.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, username: str = "hotline",
                 secret: str = "hotline-secret", time_scale: float = 1.0,
                 agents: Sequence[AgentSpec] | None = None,
                 queues: Sequence[QueueSpec] | None = None,
                 hotline_numbers: Sequence[str] = ("4008001234", "8008001234"),
                 timestampevents: bool = False, seed: int = 0, noise: int = 2,
                 max_client_buffer: int = 8 << 20,
                 agi: AgiTarget | tuple[str, int] | str | None = None,
                 record_calls: bool = False, journal: str | None = None) -> None:
        # agi: the FastAGI server a call's IVR runs on ("host:port"); None keeps the
        # capture rig's dialplan with its fake AGIExec events (dialplan.py).
        # record_calls: with agi, queued calls announce their recording (HOTLINE_RECORDING)
        # journal: the file the PBX's CEL lines go to (deploy/asterisk/cel_custom.conf)
        self.pbx = Pbx(self._sink, agents=agents, queues=queues,
                       hotline_numbers=hotline_numbers, time_scale=time_scale,
                       timestampevents=timestampevents, seed=seed, noise=noise, agi=agi,
                       record_calls=record_calls, journal=journal)
        self.server = AmiServer(self.pbx, host=host, port=port, username=username,
                                secret=secret, max_client_buffer=max_client_buffer)
        self._load: Any = None
        # Called with every event as it is handed to the clients' sockets (benchmarks
        # take the moment an event leaves the PBX from here); must not raise or block.
        self.event_hook: Callable[[bytes, str], None] | None = None

    def _sink(self, data: bytes, cls: str) -> None:
        self.server.broadcast(data, cls)
        if self.event_hook is not None:
            self.event_hook(data, cls)

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.pbx.bind_loop()
        await self.server.start()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def host(self) -> str:
        return self.server.host

    async def close(self) -> None:
        await self.stop_load()
        await self.pbx.close()
        await self.server.close()

    async def __aenter__(self) -> PbxSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------- control
    def reset(self) -> None:
        """Forget calls, the actions log and canned responses."""
        self.pbx.reset()
        self.server.actions.clear()
        self.server.canned.clear()
        self.server.slow.clear()

    @property
    def actions(self) -> list[dict[str, str]]:
        return self.server.actions

    def actions_named(self, name: str) -> list[dict[str, str]]:
        low = name.lower()
        return [a for a in self.server.actions if a.get("Action", "").lower() == low]

    def canned_response(self, action: str, response: dict[str, str] | None) -> None:
        if response is None:
            self.server.canned.pop(action.lower(), None)
        else:
            self.server.canned[action.lower()] = dict(response)

    def slow_action(self, action: str, seconds: float | None) -> None:
        """Answer ``action`` only ``seconds`` (wall time) after it arrives, as a busy
        Asterisk does (``Status`` with AllVariables on many channels); None: at once.
        Live events go on meanwhile."""
        if seconds is None:
            self.server.slow.pop(action.lower(), None)
        else:
            self.server.slow[action.lower()] = seconds

    async def drop_connections(self) -> None:
        """Close every client socket now (a PBX outage seen from the client); calls go on."""
        for s in list(self.server.sessions):
            s.abort()
        await asyncio.sleep(0)

    def refuse_connections(self, refuse: bool) -> None:
        self.server.refuse = refuse

    def send_raw(self, data: bytes) -> None:
        for s in list(self.server.authed):
            s.write(data)

    def pause_output(self, paused: bool) -> None:
        self.server.output_paused = paused

    @property
    def connections(self) -> int:
        return len(self.server.authed)

    @property
    def slow_clients_dropped(self) -> int:
        return self.server.slow_clients_dropped

    # --------------------------------------------------------------- calls
    def place_call(self, *, caller: str, name: str | None = None, did: str = "4008001234",
                   script: CallScript | None = None) -> SimCall:
        return self.pbx.place_call(caller=caller, name=name, did=did, script=script)

    async def run_scenario(self, name: str) -> list[SimCall]:
        from telephony.simulator.scenarios import run_scenario

        return await run_scenario(self, name)

    def set_agent(self, name_or_interface: str, **behaviour: Any) -> None:
        self.pbx.set_agent(name_or_interface, **behaviour)

    def set_customer(self, number: str, **behaviour: Any) -> None:
        """How an outside number answers the hotline (mode answer|busy|noanswer|
        unavailable, ring_s, talk_s): callbacks and click-to-dial reach it."""
        self.pbx.set_customer(number, **behaviour)

    def start_load(self, *, calls_per_second: float, total_calls: int = 0) -> None:
        from telephony.simulator.load import LoadGenerator

        if self._load is not None:
            self._load.stop_nowait()
        self._load = LoadGenerator(self, calls_per_second=calls_per_second,
                                   total_calls=total_calls)
        self._load.start()

    async def stop_load(self) -> None:
        if self._load is not None:
            await self._load.stop()
            self._load = None

    @property
    def load(self) -> Any:
        return self._load
