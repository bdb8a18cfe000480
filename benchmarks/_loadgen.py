"""The load generator behind ``python -m benchmarks.load``: `mentorbot run` as a separate process
on the loopback fake of Discord, fed an open-loop mix of interactions from many fake members.

Pieces:

* :class:`BotProcess` — ``python -m bot run`` configured only through its environment
  (``DISCORD_TOKEN``, ``DISCORD_API_BASE``, ``DISCORD_GATEWAY_URL``, ``DATABASE_URL``,
  ``REMINDERS_ENABLED=false``, ``HTTP_PORT``); its CPU time (``/proc/<pid>/stat`` utime+stime)
  and RSS (``/proc/<pid>/status`` VmRSS) are read from outside.
* :class:`LoadGenerator` — members with a little state (their open quiz DM, the checklist
  items they marked), a fixed-rate schedule (:meth:`LoadGenerator.run_phase`), a bounded number
  of interactions in flight, and one sweeper that turns each interaction into a
  :class:`Record` once it is answered, refused or lost.

Every time is event-loop time of this process, taken by the fake: when the INTERACTION_CREATE
frame left on the socket, when each callback arrived, when each message was created or edited.
Every loop is bounded by a count or a deadline; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from benchmarks.intents import load_questions, percentile
from bot.knowledge.loader import load_knowledge
from tests.e2e.fake_discord import FakeDiscord
from tests.e2e.fake_discord.interactions import (
    CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_UPDATE_MESSAGE,
    UPDATE_MESSAGE,
    InteractionHandle,
)
from tests.e2e.fake_discord.models import FakeMessage, FakeUser

try:  # the bot's own words and colours, so a reworded reply is still recognised
    from bot.frontends.discord.handling import busy_reply
    from bot.frontends.discord.present import COLOURS

    BUSY_TITLE = busy_reply().title
    ERROR_COLOUR: int | None = COLOURS["error"].value
except ImportError:  # pragma: no cover - the bot's front end moved; fall back to the words
    BUSY_TITLE = "I'm very busy right now"
    ERROR_COLOUR = None

ACK_DEADLINE = 3.0  # Discord's: the fake refuses a first callback after this
FINAL_TIMEOUT = 30.0  # after this an acknowledged interaction without an answer is "stuck"
LATE_GRACE = 10.0  # after the deadline, how long a refused (late) callback is waited for
SETTLE = 0.25  # a reply counts as final once nothing about it changed for this long
SWEEP = 0.02  # seconds between sweeps over the interactions in flight
QUIZ_CLICK_SHARE = 0.85  # of quiz traffic: clicks by members with a quiz open (rest: /quiz)
TRIM_EVERY = 1.0  # seconds between trims of what the fake remembers (see trim_fake)
KEEP_CLOSED = 10.0  # seconds the fake keeps a closed interaction (late edits still land)

#: kind → share of the mix (the issue's "realistic mix")
DEFAULT_MIX: dict[str, float] = {"ask": 0.40, "quiz": 0.20, "checklist": 0.20,
                                 "progress": 0.10, "browse": 0.10}

#: outcomes of one interaction
OK, WARNING, BUSY, ERROR, LATE, LOST, STUCK = (
    "ok", "member warning", "busy (shed)", "error", "late ack (>3 s)", "lost", "no final answer")


# -- the bot as a process -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def runqueue_wait(pid: int | str = "self") -> float:
    """Seconds the main thread of ``pid`` waited on a run queue (``/proc/<pid>/schedstat``)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


class BotExited(RuntimeError):
    """The bot's process ended during a run."""


class BotProcess:
    """``python -m bot run`` against ``fake``; ``cpu_seconds()``/``rss_mib()`` from /proc."""

    def __init__(self, fake: FakeDiscord, db_url: str, workdir: Path,
                 extra_env: dict[str, str] | None = None, module: str = "bot") -> None:
        self.fake = fake
        self.module = module  # "bot" (``python -m bot run``) or "benchmarks.floor"
        self.db_url = db_url
        self.workdir = workdir
        self.http_port = free_port()
        self.log_path = workdir / "bot.log"
        self.extra_env = dict(extra_env or {})
        self.proc: asyncio.subprocess.Process | None = None
        self._log: BinaryIO | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = 60.0) -> None:
        env = dict(os.environ, DISCORD_TOKEN=self.fake.token,
                   DISCORD_API_BASE=self.fake.api_base,
                   DISCORD_GATEWAY_URL=self.fake.gateway_url, DATABASE_URL=self.db_url,
                   REMINDERS_ENABLED="false", HTTP_PORT=str(self.http_port),
                   HTTP_HOST="127.0.0.1", **self.extra_env)
        root = Path(__file__).resolve().parent.parent
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        self._log = self.log_path.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", self.module, "run", cwd=self.workdir, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        try:
            await self.fake.wait_ready(timeout=timeout)
            await self.fake.wait_for_sync(1, timeout=timeout)
        except BaseException:
            exited = self.proc is not None and self.proc.returncode is not None
            await self.stop()
            if exited:
                self.check_alive()  # it exited by itself: say why (its log), not "timed out"
            raise

    def check_alive(self) -> None:
        """Raise :class:`BotExited` (with the end of its log) if the bot's process ended."""
        if self.proc is not None and self.proc.returncode is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
            raise BotExited(f"mentorbot run exited with code {self.proc.returncode}; the end of "
                            "its log:\n" + "\n".join(tail))

    def cpu_seconds(self) -> float:
        """utime + stime of the bot's process (all its threads)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # fields 14 and 15 of stat

    def write_syscalls(self) -> int:
        """The write system calls the bot's process made (``syscw`` of /proc/<pid>/io): each
        a send to Discord or PostgreSQL, a SQLite WAL write or a log line. Unlike CPU time it
        does not depend on how busy the machine is."""
        with open(f"/proc/{self.pid}/io") as f:
            for line in f:
                if line.startswith("syscw:"):
                    return int(line.split()[1])
        return 0

    def runqueue_wait(self) -> float:
        """Seconds the bot's main (event-loop) thread has spent runnable but waiting for a CPU:
        on a shared machine this is the time other processes took from it."""
        return runqueue_wait(self.pid)

    def rss_mib(self) -> float:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    async def metrics(self) -> dict[str, float]:
        """``mentorbot_interactions_total`` by outcome, scraped from the bot's /metrics."""
        import aiohttp

        out: dict[str, float] = {}
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        try:
            async with aiohttp.ClientSession() as http, \
                    http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError):
            return out
        for line in text.splitlines():
            m = re.match(r'mentorbot_interactions_total\{.*outcome="([^"]+)".*\} (\S+)', line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
        return out

    def log_summary(self) -> tuple[int, int, list[str]]:
        """(WARNING lines, ERROR lines, the first error with its traceback — or the first
        warnings) from the bot's log."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return 0, 0, []
        warnings = [line for line in lines if " WARNING " in line]
        errors = [i for i, line in enumerate(lines) if " ERROR " in line or " CRITICAL " in line]
        if errors:
            first = errors[0]
            end = first + 1
            while end < len(lines) and end - first < 40 and not re.match(r"\d{4}-", lines[end]):
                end += 1  # the traceback under it
            sample = lines[first:end]
        else:
            sample = warnings[:5]
        return len(warnings), len(errors), sample

    async def stop(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self.proc = proc  # keep the pid readable for the report
        return proc.returncode if proc is not None else None


# -- members and their interactions -------------------------------------------------------------


def api_route(method: str, path: str) -> str:
    """``POST /interactions/{id}/{token}/callback``: a request's method and path, ids and
    tokens replaced by their names."""
    path = re.sub(r"/(interactions|webhooks)/\d+/[^/]+", r"/\1/{id}/{token}", path)
    return method + " " + re.sub(r"/\d+", "/{id}", path)


@dataclass
class Member:
    user: FakeUser
    quiz_message: FakeMessage | None = None  # the DM with the open quiz question
    quiz_finished: bool = False
    done: set[str] = field(default_factory=set)
    noted_at: float = float("-inf")  # the last interaction whose reply had a "Saved earlier" note


@dataclass
class Record:
    """One interaction: what was sent, and what came back (times in seconds from dispatch)."""

    kind: str  # "ask", "quiz", "quiz click", "checklist done", …
    member: Member
    handle: InteractionHandle
    scheduled: float
    first: float | None = None  # first callback
    final: float | None = None  # last change of the final answer
    outcome: str = ""
    title: str = ""
    closed_at: float = 0.0
    on_done: Callable[[Record], None] | None = None

    @property
    def sent_at(self) -> float:
        """When the INTERACTION_CREATE frame left the fake (else when it was made)."""
        return self.handle.dispatched_at or self.handle.created_at

    @property
    def gateway_wait(self) -> float:
        """Seconds from the interaction's creation until its frame went out to the bot."""
        return self.sent_at - self.handle.created_at


def _title(msg: FakeMessage | None) -> tuple[str, int | None]:
    if msg is None or not msg.embeds:
        return ("", None)
    embed = msg.embeds[0]
    return (str(embed.get("title") or ""), embed.get("color"))


def _classify(title: str, colour: int | None) -> str:
    if title == BUSY_TITLE:
        return BUSY
    if ERROR_COLOUR is not None and colour == ERROR_COLOUR:
        return ERROR
    if title in ("Hmm",):  # something the member can fix (e.g. undo of an item not done)
        return WARNING
    if title.startswith("Discord didn't") or title in ("Sorry", "Database unavailable"):
        return ERROR
    return OK


def _final(handle: InteractionHandle) -> tuple[float, FakeMessage | None] | None:
    """(time of the last change, the reply's first message) once the reply is complete."""
    cb = handle.first_callback
    if cb is None:
        return None
    done = [m for m in handle.touched if not m.loading]
    if cb.type == DEFERRED_UPDATE_MESSAGE:
        done = [m for m in done if m.updated_at > cb.at or m in handle.followups]
    elif cb.type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
        if not done:
            return None
    elif cb.type not in (CHANNEL_MESSAGE_WITH_SOURCE, UPDATE_MESSAGE):
        return (cb.at, None)  # a modal or similar: the callback is the answer
    if not done:
        return None
    last = max([cb.at] + [m.updated_at for m in handle.touched])
    return (last, done[0])  # the first message carries the title (later ones: more pages)


# -- the generator ------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    rate: float
    seconds: float
    records: list[Record]
    skipped: int  # not sent: the generator's own in-flight bound (or no idle member) was hit
    cpu_seconds: float  # the bot's CPU over the phase
    wall: float
    rss_start: float
    rss_end: float
    gen_cpu_seconds: float  # this process's CPU (fake Discord + generator) over the phase
    bot_runq_seconds: float  # the bot's loop thread runnable but without a CPU
    gen_runq_seconds: float  # the same for this process's loop thread
    send_wall: float  # seconds spent sending (the rest of ``wall`` is waiting for answers)
    send_cpu_seconds: float  # the bot's CPU while sending
    write_syscalls: int  # the bot's write system calls over the phase

    def summary(self) -> dict[str, float]:
        recs = self.records
        n = len(recs)
        firsts = [r.first * 1000 for r in recs if r.first is not None]
        finals = [r.final * 1000 for r in recs if r.final is not None]
        acked = sum(1 for r in recs if r.first is not None and r.first <= ACK_DEADLINE)
        # Discord's clock starts when it creates the interaction, before the frame goes out:
        # frames wait in the gateway connection while the bot does not read its socket
        waits = [r.gateway_wait for r in recs]
        acked_created = sum(1 for r in recs if r.first is not None
                            and r.first + r.gateway_wait <= ACK_DEADLINE)
        gen_lag = [r.handle.created_at - r.scheduled for r in recs]
        count = {o: sum(1 for r in recs if r.outcome == o)
                 for o in (OK, WARNING, BUSY, ERROR, LATE, LOST, STUCK)}
        return {
            "sent": n,
            "skipped": self.skipped,
            "acks_3s_pct": 100.0 * acked / n if n else float("nan"),
            "acks_3s_created_pct": 100.0 * acked_created / n if n else float("nan"),
            "gateway_wait_p99": 1000 * percentile(waits, 99) if waits else float("nan"),
            "gateway_wait_max": 1000 * max(waits) if waits else float("nan"),
            "gen_lag_p99": 1000 * percentile(gen_lag, 99) if gen_lag else float("nan"),
            "first_p50": percentile(firsts, 50) if firsts else float("nan"),
            "first_p95": percentile(firsts, 95) if firsts else float("nan"),
            "first_p99": percentile(firsts, 99) if firsts else float("nan"),
            "final_p99": percentile(finals, 99) if finals else float("nan"),
            "final_max": max(finals) if finals else float("nan"),
            "cpu_ms_per": 1000 * self.cpu_seconds / n if n else float("nan"),
            "writes_per": self.write_syscalls / n if n else float("nan"),
            "bot_cpu_pct": (100 * self.send_cpu_seconds / self.send_wall if self.send_wall
                            else float("nan")),
            "gen_cpu_pct": 100 * self.gen_cpu_seconds / self.wall if self.wall else float("nan"),
            "bot_runq_pct": 100 * self.bot_runq_seconds / self.wall if self.wall else float("nan"),
            "gen_runq_pct": 100 * self.gen_runq_seconds / self.wall if self.wall else float("nan"),
            "rss_start": self.rss_start,
            "rss_end": self.rss_end,
            **{f"n_{k}": v for k, v in count.items()},
        }


class LoadGenerator:
    """Open-loop traffic from ``members`` fake members of one guild to a running bot."""

    def __init__(self, fake: FakeDiscord, bot: BotProcess, *, members: int = 2000,
                 max_in_flight: int = 600, mix: dict[str, float] | None = None,
                 seed: int = 7) -> None:
        self.fake = fake
        self.bot = bot
        self.rng = random.Random(seed)
        self.max_in_flight = max_in_flight
        mix = mix or DEFAULT_MIX
        self.kinds = list(mix)
        self.weights = [mix[k] for k in self.kinds]
        in_scope, out_scope = load_questions()
        self.questions = [q["q"] for q in in_scope + out_scope]
        kb = load_knowledge()
        self.items = sorted(kb.item_by_id)
        self.phases = sorted(kb.phase_by_number)
        self.roadblocks = [i.id for i in kb.intents if i.id.startswith("roadblock.")]
        self.topics = [i.id for i in kb.intents if i.id.split(".", 1)[0] in ("faq", "topic")]
        self.guild = fake.add_guild("load")
        self.members = [Member(fake.add_user(f"m{i}", guild=self.guild)) for i in range(members)]
        self._idle = list(range(members))
        self._busy: dict[int, int] = {}  # id(Member) → index, while an interaction is open
        self._busy_index: set[int] = set()
        self._quizzing: list[int] = []  # members with a quiz open in their DMs
        self._quizzing_set: set[int] = set()
        self.pending: list[Record] = []
        self.closed: list[Record] = []
        self._trimmed = 0  # closed[:_trimmed] are forgotten by the fake
        #: (user id, item) → (done asked for, outcome) of the last /checklist done|undo that
        #: would change the item as the member knew it
        self.last_write: dict[tuple[int, str], tuple[bool, str, float]] = {}
        self.saved_notes = 0  # replies that carried the bot's "Saved earlier" note
        #: the bot's requests to the fake's API by route (``POST /channels/{id}/messages``),
        #: counted before :meth:`trim_fake` forgets them
        self.api_requests: Counter[str] = Counter()

    # -- choosing what a member does ---------------------------------------------------------

    def _take_member(self, kind: str = "") -> Member | None:
        """An idle member; for a quiz preferably one with a quiz open in their DMs, so that most
        quiz traffic is clicks on the yes/no buttons (as with real members) and not starts."""
        if not self._idle:
            return None
        index = None
        if kind == "quiz" and self._quizzing and self.rng.random() < QUIZ_CLICK_SHARE:
            for _ in range(8):  # bounded: a few tries for an idle member with a quiz open
                candidate = self.rng.choice(self._quizzing)
                if candidate not in self._busy_index:
                    index = candidate
                    self._idle.remove(index)
                    break
        if index is None:
            j = self.rng.randrange(len(self._idle))
            self._idle[j], self._idle[-1] = self._idle[-1], self._idle[j]
            index = self._idle.pop()
        member = self.members[index]
        self._busy[id(member)] = index
        self._busy_index.add(index)
        return member

    def _release(self, member: Member) -> None:
        index = self._busy.pop(id(member))
        self._busy_index.discard(index)
        self._idle.append(index)
        quizzing = member.quiz_message is not None
        if quizzing and index not in self._quizzing_set:
            self._quizzing.append(index)
            self._quizzing_set.add(index)
        elif not quizzing and index in self._quizzing_set:
            self._quizzing.remove(index)
            self._quizzing_set.discard(index)

    async def _send(self, kind: str, member: Member) -> tuple[str, InteractionHandle,
                                                              Callable[[Record], None] | None]:
        fake, rng, guild, user = self.fake, self.rng, self.guild, member.user
        if kind == "ask":
            q = rng.choice(self.questions)[:300]
            return "ask", await fake.slash(user, "ask", {"question": q}, guild=guild), None
        if kind == "quiz":
            msg = member.quiz_message
            ids = [c for c in msg.custom_ids if c.startswith("quiz:ans")] if msg else []
            if msg is not None and ids:
                h = await fake.click(user, msg, rng.choice(ids), check=False)
                return "quiz click", h, self._after_click
            restart: dict[str, object] = {"restart": True} if member.quiz_finished else {}
            h = await fake.slash(user, "quiz", restart, guild=guild)
            return "/quiz", h, self._after_quiz
        if kind == "checklist":
            roll = rng.random()
            if roll < 0.3 or (roll < 0.5 and not member.done):
                return "checklist view", await fake.slash(user, "checklist view", guild=guild), None
            if roll < 0.5:
                item = rng.choice(sorted(member.done))
                h = await fake.slash(user, "checklist undo", {"item": item}, guild=guild)
                return "checklist undo", h, lambda r: self._after_mark(r, item, False, True)
            open_items = [i for i in self.items if i not in member.done] or self.items
            item = rng.choice(open_items)
            h = await fake.slash(user, "checklist done", {"item": item}, guild=guild)
            prior = item in member.done
            return "checklist done", h, lambda r: self._after_mark(r, item, True, prior)
        if kind == "progress":
            return "progress", await fake.slash(user, "progress", guild=guild), None
        choices: list[tuple[str, dict[str, object]]] = [
            ("roadblock", {}), ("roadblock", {"name": rng.choice(self.roadblocks or [""])}),
            ("faq", {"topic": rng.choice(self.topics)} if self.topics else {}),
            ("phase", {"number": rng.choice(self.phases)}), ("levels", {}), ("tools", {}),
            ("roadmap", {}), ("sources", {}), ("help", {}),
        ]
        name, opts = rng.choice(choices)
        opts = {k: v for k, v in opts.items() if v != ""}
        return f"/{name}", await fake.slash(user, name, opts, guild=guild), None

    def _after_click(self, rec: Record) -> None:
        msg = rec.handle.source_message
        if rec.outcome == OK and msg is not None and not any(
                c.startswith("quiz:ans") for c in msg.custom_ids):
            rec.member.quiz_message, rec.member.quiz_finished = None, True

    def _after_quiz(self, rec: Record) -> None:
        if rec.outcome != OK:
            return
        final = _final(rec.handle)
        text = " ".join(str(e.get("description") or "") for e in (final[1].embeds if final
                                                                   and final[1] else []))
        m = re.search(r"/channels/[^/\s]+/\d+/(\d+)", text)
        msg = self.fake.state.messages.get(int(m.group(1))) if m else None
        rec.member.quiz_message = msg
        rec.member.quiz_finished = False

    def _after_mark(self, rec: Record, item: str, done: bool, prior: bool) -> None:
        if rec.outcome in (OK, WARNING):  # "Hmm, not marked": our view was stale; now it isn't
            (rec.member.done.add if done else rec.member.done.discard)(item)
        # the last request about each (member, item) that would change it, for check_writes()
        key = (rec.member.user.id, item)
        if prior != done:
            self.last_write[key] = (done, rec.outcome, rec.sent_at)
        else:
            self.last_write.pop(key, None)

    # -- sweeping ------------------------------------------------------------------------------

    def _close(self, rec: Record, now: float) -> None:
        h = rec.handle
        sent = rec.sent_at
        if h.first_callback is not None:
            rec.first = h.first_callback.at - sent
        final = _final(h)
        if final is not None:
            rec.final = final[0] - sent
            rec.title, colour = _title(final[1])
            rec.outcome = _classify(rec.title, colour)
            footers = [str((e.get("footer") or {}).get("text") or "")
                       for m in h.touched for e in m.embeds]
            if any("Saved earlier" in f for f in footers):
                self.saved_notes += 1
                rec.member.noted_at = rec.sent_at
        elif h.first_callback is not None:
            rec.outcome = STUCK
        elif h.rejected:
            rec.outcome = LATE
        else:
            rec.outcome = LOST
        rec.closed_at = now
        if rec.on_done is not None:
            rec.on_done(rec)
        self._release(rec.member)
        self.closed.append(rec)

    def sweep(self) -> None:
        now = self.fake.state.now()
        keep: list[Record] = []
        for rec in self.pending:
            h = rec.handle
            age = now - rec.sent_at
            final = _final(h)
            if final is not None:
                if now - final[0] >= SETTLE:
                    self._close(rec, now)
                    continue
            elif (h.first_callback is None and (h.rejected or age > ACK_DEADLINE + LATE_GRACE)
                  and age > ACK_DEADLINE) or age > FINAL_TIMEOUT:
                self._close(rec, now)
                continue
            keep.append(rec)
        self.pending = keep

    async def _sweeper(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_trim = loop.time() + TRIM_EVERY
        while not stop.is_set():
            self.sweep()
            if loop.time() >= next_trim:
                next_trim += TRIM_EVERY
                self.trim_fake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SWEEP)

    def count_requests(self) -> Counter[str]:
        """Moves the fake's request log into :attr:`api_requests` (by route) and returns it."""
        requests = self.fake.state.requests
        self.api_requests.update(api_route(r.method, r.path) for r in requests)
        requests.clear()
        return self.api_requests

    def trim_fake(self, older_than: float = KEEP_CLOSED) -> None:
        """Forget what the fake keeps of interactions closed a while ago (its request log, the
        handles and their messages, gateway frames already sent), so that a long or fast run
        measures the bot and not the fake's lists (it scans some of them per request)."""
        state = self.fake.state
        now = state.now()
        self.count_requests()
        keep_msgs = {id(m.quiz_message) for m in self.members if m.quiz_message is not None}
        closed = self.closed
        while self._trimmed < len(closed) and now - closed[self._trimmed].closed_at >= older_than:
            h = state.interactions.pop(closed[self._trimmed].handle.id, None)
            self._trimmed += 1
            for msg in h.touched + h.followups if h is not None else ():
                if id(msg) not in keep_msgs:
                    state.messages.pop(msg.id, None)
        for conn in self.fake.gateway.connections:
            del conn.sent[:-100], conn.received[:-100]
        for session in self.fake.gateway.sessions.values():
            log = session.log
            cut = len(log) - 100
            while cut > 0 and not log[cut - 1].sent:  # keep what is still to be sent
                cut -= 1
            if cut > 0:
                del log[:cut]

    async def check_writes(self, db_url: str) -> dict[str, int]:
        """After a run (bot stopped): for the last /checklist done|undo of each member and item,
        compare what the database holds with what the member was told. ``unreported``: the
        change is stored though the member saw no answer (lost, late, stuck or an error) and
        no later reply to them carried the bot's "Saved earlier" note (else ``told later``);
        ``shed but stored``: stored though the member was told "busy, nothing was changed";
        ``reported, not stored``: answered as done but the database disagrees."""
        from bot.storage import Store

        out = {"checked": 0, "unreported": 0, "told later": 0, "shed but stored": 0,
               "reported, not stored": 0}
        if not self.last_write:
            return out
        noted = {m.user.id: m.noted_at for m in self.members}
        store = Store.open(db_url)
        try:
            states: dict[int, dict[str, bool]] = {}
            for (user_id, item), (done, outcome, sent_at) in self.last_write.items():
                if user_id not in states:
                    rows = await store.checklist.states(user_id)
                    states[user_id] = {k: v.done for k, v in rows.items()}
                stored = states[user_id].get(item, False)
                out["checked"] += 1
                if outcome == OK and stored != done:
                    out["reported, not stored"] += 1
                elif outcome == BUSY and stored == done:
                    out["shed but stored"] += 1
                elif outcome in (LOST, LATE, STUCK, ERROR) and stored == done:
                    # a later reply to the member said "Saved earlier: …" (about their last one)
                    out["told later" if noted[user_id] > sent_at else "unreported"] += 1
        finally:
            await store.close()
        return out

    # -- running -------------------------------------------------------------------------------

    async def warm_up(self, n: int = 12, timeout: float = 60.0) -> None:
        """A few interactions of every kind, one at a time, so lazy start-up is not measured."""
        deadline = time.monotonic() + timeout
        for i in range(n):
            kind = self.kinds[i % len(self.kinds)]
            member = self._take_member(kind)
            assert member is not None
            _, handle, after = await self._send(kind, member)
            rec = Record(kind, member, handle, self.fake.state.now(), on_done=after)
            while _final(handle) is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(SETTLE)
            self._close(rec, self.fake.state.now())
        self.trim_fake(older_than=0.0)
        self.closed, self._trimmed = [], 0

    async def run_phase(self, rate: float, seconds: float, *, drain: float = FINAL_TIMEOUT + 5,
                        events: Sequence[tuple[float, Callable[[float], None]]] = (),
                        ) -> PhaseResult:
        """Send ``rate`` interactions a second for ``seconds`` on a fixed schedule (open loop:
        a slow bot does not slow the sender), then wait up to ``drain`` s for the answers.
        ``events`` are ``(seconds after the start, fn(elapsed))`` run once each on the way."""
        loop = asyncio.get_running_loop()
        self.closed, self._trimmed = [], 0
        total = int(rate * seconds)
        skipped = 0
        sending = (0.0, 0.0)
        stop = asyncio.Event()
        sweeper = asyncio.create_task(self._sweeper(stop))
        rss_start = self.bot.rss_mib()
        cpu0, gen0 = self.bot.cpu_seconds(), time.process_time()
        writes0 = self.bot.write_syscalls()
        runq0, gen_runq0 = self.bot.runqueue_wait(), runqueue_wait()
        t0 = loop.time()
        todo = sorted(events, key=lambda e: e[0])
        try:
            for i in range(total):
                if i % 100 == 0:
                    self.bot.check_alive()
                at = t0 + i / rate
                delay = at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                while todo and loop.time() - t0 >= todo[0][0]:
                    todo.pop(0)[1](loop.time() - t0)
                kind = self.rng.choices(self.kinds, self.weights)[0]
                member = (self._take_member(kind) if len(self.pending) < self.max_in_flight
                          else None)
                if member is None:
                    skipped += 1
                    continue
                label, handle, after = await self._send(kind, member)
                rec = Record(label, member, handle, at, on_done=after)
                self.pending.append(rec)
            sending = (loop.time() - t0, self.bot.cpu_seconds() - cpu0)
            end = loop.time() + drain
            while self.pending and loop.time() < end:
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await sweeper
        now = loop.time()
        for rec in self.pending:  # still open after the drain: say so rather than drop them
            self._close(rec, now)
        self.pending = []
        wall = now - t0
        records = self.closed
        result = PhaseResult(rate, seconds, records, skipped, self.bot.cpu_seconds() - cpu0,
                             wall, rss_start, self.bot.rss_mib(), time.process_time() - gen0,
                             self.bot.runqueue_wait() - runq0, runqueue_wait() - gen_runq0,
                             *sending, self.bot.write_syscalls() - writes0)
        self.trim_fake(older_than=0.0)
        self.closed, self._trimmed = [], 0
        return result
