"""``mentorbot chat``: the mentor in a terminal, no Discord and no network needed.

The same engine and flows as the Discord bot. Commands mirror the slash commands (``/ask``,
``/quiz``, ``/checklist``, ``/done``, ``/progress``, ``/reminders``, ``/help`` …); a plain line
is a question. When a reply offers choices they are numbered: type the number or the label.
In a terminal the output is rich text with a prompt and tab completion; piped, it is plain text
with no prompt and no banner, so the console can be scripted.

Input is read without a helper thread (the event loop watches the descriptor), so Ctrl-C ends
the session at once, even while it waits for a line on a pipe that stays open.
"""

from __future__ import annotations

import asyncio
import codecs
import difflib
import os
import re
import shlex
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bot.engine.commands import CommandSpec, Param
from bot.engine.context import Member
from bot.engine.replies import Action, Attachment, ErrorCause, Kind, Reply
from bot.limits import MAX_QUESTION_CHARS

if TYPE_CHECKING:  # `mentorbot ask` uses plain_text and clean_line, not the whole engine
    from bot.engine.core import Engine

_TS = re.compile(r"<t:(-?\d{1,12})(?::([tTdDfFR]))?>")
# ANSI escape sequences (CSI, OSC, two-character ESC x) are dropped whole; any other control
# character, C1 controls and lone surrogates become a space.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_NUMBER = re.compile(r"[0-9]+")  # ASCII digits only: int("²") would raise
# an evidence link, even a wrong one (the store says what is wrong with it): scheme:…, www.…,
# host/path. Checklist item ids never contain ":" or "/".
_LINK = re.compile(r"(?i)(?:[a-z][a-z0-9+.-]*:\S+|www\.\S+|[\w-]+(?:\.[\w-]+)+/\S*)")
TOO_BIG = 2**64  # any number longer than 18 digits: out of every range (even 64-bit ids)
MAX_LINE = MAX_QUESTION_CHARS * 5  # a line is cut here; a question is read to its own limit
MAX_BUFFER = 4 * MAX_LINE  # the rest of an over-long line is dropped while reading

QUIT_WORDS = ("/quit", "/exit", "/q", "quit", "exit")

CONSOLE_HELP = (
    "\n\n**In this console**\n"
    "A plain line is a question. When a reply offers numbered choices, type the number or the "
    "label (`y`/`n` work in the quiz).\n"
    "An ITEM is its id, a few words of its title, or its number in the last `/checklist`.\n"
    "`/done`, `/undo`, `/export`, `/delete` and `/share` are short for the `/checklist` and "
    "`/privacy` commands; `/reminders on` also takes `weekday=… hour=… timezone=…`.\n"
    "`/more`: the last answer in full\n"
    "`/save [FILE]`: the last picture (the `/progress` card) as a PNG file\n"
    "`/export [FILE]`: write your data to a new JSON file (default: in your home folder)\n"
    "`/quit` (or Ctrl-D): leave"
)

_AFFIRM = {"y", "yes", "yeah", "yep", "yup", "ja", "oui", "si"}
_DENY = {"n", "no", "nope", "nah", "nein", "non"}
_ALIASES: dict[str, tuple[str, ...]] = {
    **{w: ("yes",) for w in _AFFIRM},
    **{w: ("no", "cancel") for w in _DENY},
    "b": ("back",),
    "restart": ("start over", "retake the quiz", "start a new quiz"),
    "retake": ("retake the quiz", "start over", "start a new quiz"),
}


# --- text ----------------------------------------------------------------------------------------


def _relative(moment: datetime) -> str:
    seconds = (moment - datetime.now().astimezone()).total_seconds()
    ahead, span = seconds > 0, abs(seconds)
    if span < 60:
        return "just now" if not ahead else "in a minute"
    for unit, size, limit in (("minute", 60, 3600), ("hour", 3600, 48 * 3600),
                              ("day", 86400, None)):
        if limit is None or span < limit:
            n = round(span / size)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if ahead else f"{text} ago"
    raise AssertionError("unreachable")  # pragma: no cover


_FORMATS = {
    "t": "%H:%M %Z", "T": "%H:%M:%S %Z", "d": "%Y-%m-%d", "D": "%d %b %Y",
    "f": "%d %b %Y %H:%M %Z", "F": "%a %d %b %Y %H:%M %Z", None: "%d %b %Y %H:%M %Z",
}


def local_times(text: str) -> str:
    """Discord ``<t:…>`` markup → the terminal's local time ("Fri 27 Nov 2026 18:00 CET")."""

    def one(m: re.Match[str]) -> str:
        try:
            moment = datetime.fromtimestamp(int(m.group(1))).astimezone()
        except (OverflowError, OSError, ValueError):
            return m.group(0)
        if m.group(2) == "R":
            return _relative(moment)
        return moment.strftime(_FORMATS[m.group(2)])

    return _TS.sub(one, text)


_MD = (
    (re.compile(r"\[([^\]\n]+)\]\((\S+?)\)"), r"\1 (\2)"),  # [label](url) → label (url)
    (re.compile(r"\*\*(.+?)\*\*"), r"\1"),  # **bold**
    (re.compile(r"~~(.+?)~~"), r"\1"),  # ~~done~~
    (re.compile(r"`([^`\n]+)`"), r"\1"),  # `code`
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *italic*
)


def plain_markdown(text: str) -> str:
    """The light markdown of the templates as plain text (for pipes and plain terminals)."""
    for pattern, repl in _MD:
        text = pattern.sub(repl, text)
    return text


def effects_text(reply: Reply) -> str:
    """What a reply asks to happen beyond the terminal, said in words (Discord does it)."""
    lines = []
    if reply.escalate is not None:
        lines.append(f"→ Passed to the mentors' inbox; on Discord a thread “{reply.escalate.name}”"
                     f" opens in their channel ({reply.escalate.channel_id}).")
    if reply.edits:
        lines.append("→ The mentors' thread post now says the question was withdrawn.")
    if reply.dm is not None:
        lines.append("→ On Discord the member gets the answer by DM.")
    return "\n".join(lines)


def plain_text(reply: Reply) -> str:
    """A reply as plain text: for pipes, scripts and ``mentorbot ask``."""
    lines = [f"== {reply.title} ==", plain_markdown(local_times(reply.body))]
    if effects := effects_text(reply):
        lines.append(effects)
    lines += [f"{f.name}: {plain_markdown(local_times(f.value))}" for f in reply.fields]
    if reply.footer:
        lines.append(f"({plain_markdown(reply.footer)})")
    if reply.actions:
        lines.append("Choices: " + "  ".join(f"[{n}] {a.label}"
                                              for n, a in enumerate(reply.actions, 1)))
    return "\n".join(lines)


def clean_line(line: str) -> str:
    """What the member typed, made safe: no escape sequences or control characters, capped."""
    line = _ANSI.sub("", line[: MAX_LINE * 2])
    return _CONTROL.sub(" ", line)[:MAX_LINE].strip()


def as_number(text: str) -> int | None:
    """``text`` as a non-negative integer when it is only ASCII digits (huge ones capped)."""
    if not _NUMBER.fullmatch(text):
        return None
    return int(text) if len(text) <= 18 else TOO_BIG


def _label_key(label: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", label.casefold())).strip()


# --- input ---------------------------------------------------------------------------------------


class _LineReader:
    """Lines from ``stdin``; ``readline()`` returns "" at end of input.

    A pipe or terminal is watched by the event loop (no thread blocked in ``read``, so Ctrl-C
    never waits for input that may not come). A regular file is read directly (it never
    blocks); a file object without a descriptor (``io.StringIO``) through its ``readline``.
    Bytes are decoded as UTF-8 with replacement: invalid input never raises.
    """

    def __init__(self, stdin: IO[str]):
        self.stdin = stdin
        self.loop = asyncio.get_running_loop()
        self.fd: int | None = None
        self.watched = False
        self.threaded = False
        self.text = ""
        self.eof = False
        self.dropping = False  # inside an over-long line: skip to its end
        self.waiter: asyncio.Future[None] | None = None
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            self.fd = stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return
        try:
            self.loop.add_reader(self.fd, self._readable)
            self.watched = True
        except PermissionError:  # a regular file: reading it never blocks
            pass
        except (NotImplementedError, OSError, ValueError):  # e.g. the Windows proactor loop
            self.threaded = True

    def close(self) -> None:
        if self.watched:
            self.loop.remove_reader(self.fd)  # type: ignore[arg-type]
            self.watched = False

    def _feed(self, data: bytes) -> None:
        chunk = self.decoder.decode(data, final=not data)
        self.eof = not data
        if self.dropping:  # the tail of an over-long line: skip to its end
            _, newline, chunk = chunk.partition("\n")
            if not newline:
                return
            self.dropping = False
            self.text += "\n"
        self.text += chunk
        last = self.text.rpartition("\n")[2]
        if len(last) > MAX_BUFFER:
            self.text = self.text[: len(self.text) - len(last) + MAX_BUFFER]
            self.dropping = True

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)  # type: ignore[arg-type]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        self._feed(data)
        if self.eof:
            self.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def readline(self) -> str:
        if self.fd is None:
            return self.stdin.readline()
        while "\n" not in self.text and not self.eof:
            if self.watched:
                self.waiter = self.loop.create_future()
                try:
                    await self.waiter
                finally:
                    self.waiter = None
            elif self.threaded:
                self._feed(await self.loop.run_in_executor(None, os.read, self.fd, 65536))
            else:
                try:
                    self._feed(os.read(self.fd, 65536))
                except OSError:
                    self._feed(b"")
        line, newline, self.text = self.text.partition("\n")
        return line + newline


def _prompt(prompt: str) -> str:
    """``input()`` where Ctrl-C raises at once (asyncio's own handler only cancels the task,
    which a blocking ``input()`` would not notice until Enter)."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler) if in_main else None
    try:
        return input(prompt)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


# --- the console ---------------------------------------------------------------------------------


class Console:
    def __init__(self, engine: Engine, member: Member, out: IO[str] | None = None,
                 rich: bool | None = None):
        self.engine = engine
        self.member = member
        self.out = out or sys.stdout
        self.rich = _isatty(self.out) if rich is None else rich
        self.choices: list[Action] = []
        self.quiz_index: int | None = None  # the quiz question the choices answer
        self.pending = False  # the last reply asks something (a quiz question, "delete?")
        self.more: str | None = None  # the "More" of the last short answer (/more)
        self.attachment: Attachment | None = None  # the last reply's picture (/save)
        self.listed_items: list[str] = []  # item ids of the last checklist shown, in order
        self._console = None
        if self.rich:
            from rich.console import Console as RichConsole

            self._console = RichConsole(file=self.out, highlight=False)

    # --- output -------------------------------------------------------------------------------

    def show(self, reply: Reply) -> None:
        self.choices = list(reply.actions)
        self.pending = reply.pending
        self.attachment = reply.attachment if reply.attachment and \
            reply.attachment.filename.endswith(".png") else None
        more = [a.id for a in reply.actions if a.label == "More"]
        if more or reply.intent:
            self.more = more[0] if more else None
        self.quiz_index = reply.quiz.index if reply.quiz else None
        if reply.checklist and len(reply.checklist.items) > 1:
            self.listed_items = list(reply.checklist.items)
        if self._console is None:
            self.say(plain_text(reply))
            return
        from rich.markdown import Markdown
        from rich.markup import escape
        from rich.panel import Panel
        from rich.text import Text

        text = local_times(reply.body) + "".join(
            f"\n\n**{f.name}**: {local_times(f.value)}" for f in reply.fields)
        if reply.footer:
            text += f"\n\n*{reply.footer}*"
        if effects := effects_text(reply):
            text += "\n\n" + effects
        # the templates mean every newline; markdown would join lines into one paragraph
        text = re.sub(r"(?<=\S)\n(?=[^\n])", "  \n", text)
        style = {"error": "red", "warning": "yellow", "success": "green"}.get(reply.tone, "cyan")
        panel = Panel(Markdown(text, hyperlinks=False), title=Text(reply.title, style="bold"),
                      border_style=style, title_align="left")
        self._console.print(panel)
        if self.choices:
            self._console.print("  ".join(f"[bold][{n}][/bold] {escape(a.label)}"
                                          for n, a in enumerate(self.choices, 1)))
        self._console.print()

    def say(self, text: str) -> None:
        """A line of the console's own (hints, errors), followed by a blank line."""
        print(text + "\n", file=self.out, flush=True)

    # --- input --------------------------------------------------------------------------------

    def _choice(self, line: str) -> Action | None:
        if not self.choices:
            return None
        key = line.strip().casefold()
        n = as_number(key.strip("[]().:#"))  # "2", "[2]", "2." as shown or as in a list
        if n is not None:
            return self.choices[n - 1] if 1 <= n <= len(self.choices) else None
        key = _label_key(key)
        if not key:
            return None
        labels = [(_label_key(a.label), a) for a in self.choices]
        for wanted in (key, *_ALIASES.get(key, ())):
            exact = [a for label, a in labels if label == wanted]
            if exact:
                return exact[0]
        # "yes" for "Yes, delete everything": a yes / no word as a unique first word
        for wanted in _ALIASES.get(key, ()):
            prefixed = [a for label, a in labels if label.startswith(wanted + " ")]
            if len(prefixed) == 1:
                return prefixed[0]
        return None

    def _choice_hint(self) -> str:
        n = len(self.choices)
        return (f"Type a number from 1 to {n}, or a choice's label"
                + (" (yes / no in the quiz)." if self.quiz_index is not None else ".")
                + (" To ask something else, use /ask QUESTION." if self._awaiting_answer()
                   else ""))

    async def handle(self, line: str) -> bool:
        """One line of input. Returns False when the session should end."""
        line = clean_line(line)
        if not line:
            return True
        if line.casefold() in QUIT_WORDS:
            return False
        if line.casefold().split(" ", 1)[0] == "/save":  # the last picture as a file
            picture = self.attachment
            self.show(self._save(_split(line[5:])))
            self.attachment = picture  # still the last picture: /save again elsewhere
            return True
        if line.casefold() == "/more":  # the whole card of the last answer
            if self.more is None:
                self.say("There is no answer to show in full yet. Ask a question first.")
            else:
                self.show(await self.engine.act(self.member, self.more))
            return True
        action = self._choice(line)
        if action is not None:
            self.show(await self.engine.act(self.member, action.id))
            return True
        if as_number(line) is not None:
            if self.choices:
                self.say(f"There is no choice {line[:20]}. {self._choice_hint()}")
            else:
                self.say("There is nothing to choose right now. Ask a question, or /help.")
            return True
        if not line.startswith("/"):
            return await self._question(line)
        spec, rest, group = self._command_of(line)
        if spec is None and group is None:
            name = line.split()[0].casefold()
            close = difflib.get_close_matches(name, self.command_names(), n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]}?" if close else ""
            self.say(f"Unknown command {name[:40]}.{hint} Type /help for the list.")
            return True
        reply = await self._run(spec, rest) if spec is not None else None
        if group is not None and (reply is None or (reply.tone == "warning" and
                                                    reply.kind == Kind.HELP)):
            reply = self._group_usage(group)  # "/privacy", "/reminders dance"
        assert reply is not None
        self._show_pausing(reply)
        return True

    def _awaiting_answer(self) -> bool:
        """A quiz question or a confirmation is open: a stray line must not lose it."""
        return self.pending and bool(self.choices)

    async def _question(self, line: str) -> bool:
        if not self.choices and line.casefold() in _AFFIRM | _DENY:
            # "yes" with nothing open: an answer to a quiz this console no longer shows (a
            # restart): show the question the quiz waits at, to answer it
            waiting = await self.engine.quizzing.resume(self.member)
            if waiting is not None:
                self.show(waiting)
                self.say("(Your quiz was waiting at this question: answer it with yes or no.)")
                return True
        if self.choices:
            status = self.engine.deps.match(line).status
            # "ok?", "🤖", "-1" while a choice is open, or anything I can't answer while a
            # quiz question or a confirmation waits: keep the choices, say how to pick one
            unclear = status == "empty" or not any(c.isalpha() for c in line)
            if unclear or (self._awaiting_answer() and status not in ("answered", "ambiguous")):
                self.say(f"I didn't get that. {self._choice_hint()}")
                return True
        self._show_pausing(await self.engine.run("ask", self.member, question=line))
        return True

    def _show_pausing(self, reply: Reply) -> None:
        """Show a reply that takes the place of an open quiz question, saying so."""
        quiz_index = self.quiz_index
        self.show(reply)
        if quiz_index is not None and self.quiz_index is None and \
                reply.kind not in (Kind.QUIZ, Kind.QUIZ_RESULT):
            self.say(f"(The quiz is paused at question {quiz_index + 1}: /quiz continues it.)")

    # --- commands: every one comes from the engine's table ----------------------------------

    def command_names(self) -> list[str]:
        """What can be typed after "/" (Tab completion, "did you mean")."""
        table = self.engine.table
        words = {n.split(" ", 1)[0] for n in table.by_alias()} | table.groups
        return [*sorted("/" + w for w in words), "/more", "/save", "/quit"]

    def _command_of(self, line: str) -> tuple[CommandSpec | None, str, str | None]:
        """The command a "/…" line names (the longest name that fits), the rest of the line,
        and the group when only a group's name was typed ("/reminders", "/privacy")."""
        words = re.sub(r"\s+", " ", line[1:].strip()).split(" ", 2)
        table = self.engine.table
        names = table.by_alias()
        for n in (2, 1):
            key = " ".join(words[:n]).casefold()
            if len(words) >= n and key in names:
                rest = line[1:].strip()[len(" ".join(words[:n])):].strip()
                group = key if key in table.groups else None
                return self.engine.command(names[key]), rest, group
        group = words[0].casefold()
        return None, "", group if group in table.groups else None

    def _group_usage(self, group: str) -> Reply:
        specs = [s for s in self.engine.table.commands.values() if s.group == group]
        return _usage(*specs)

    async def _run(self, spec: CommandSpec, rest: str) -> Reply:
        if spec.name == "privacy export":  # the console can write the file
            return await self._export(_split(rest))
        if spec.name == "help":
            return await self._help()
        if not spec.params and rest:
            return _usage(spec, problems=[f"/{spec.name} takes nothing more"])
        args = self._args(spec, rest)
        if isinstance(args, Reply):
            return args
        return await self.engine.run(spec.name, self.member, **args)

    def _args(self, spec: CommandSpec, rest: str) -> dict[str, object] | Reply:
        """The typed line as the command's parameters, or a usage reply saying what's wrong."""
        params = spec.params
        if len(params) == 1 and params[0].kind == "text":  # the rest as typed, quotes and all
            if params[0].required and not rest:
                return _usage(spec)
            return {params[0].name: rest}
        words = _split(rest)
        named = {k.casefold(): v for k, _, v in (w.partition("=") for w in words if "=" in w)}
        words = [w for w in words if "=" not in w or w.casefold().startswith(("http", "www"))]
        args: dict[str, object] = {}
        problems: list[str] = []
        for p in params:
            value, words = self._take(p, words, named.pop(p.name, None))
            if isinstance(value, _Problem):
                problems.append(value)
            elif value is not None:
                args[p.name] = value
            elif p.required:
                problems.append(f"{p.name.upper()} is missing")
        if words or named:
            extra = " ".join([*words, *(f"{k}=…" for k in named)])
            problems.append(f"I don't know what to do with “{extra[:60]}”")
        return _usage(spec, problems=problems) if problems else args

    def _take(self, p: Param, words: list[str],
              given: str | None) -> tuple[object | None, list[str]]:
        """One parameter's value from the words (and the words left), a _Problem, or None."""
        if p.kind == "link":
            if given is not None:
                return given, words
            links = [w for w in words if _LINK.fullmatch(w)]
            if links:
                return links[0], [w for w in words if w is not links[0]]
            return None, words
        if p.kind == "item":
            others = [w for w in words if not _LINK.fullmatch(w)] if len(words) > 1 else words
            if len(others) > 1 and others[0] in self.engine.kb.item_by_id and given is None:
                # "/done p1.drift-event notalink": an id, then something that is no link
                extra = " ".join(others[1:])[:40]
                return _Problem(f"“{extra}” is not a link: evidence is a full https:// link"), []
            typed = given if given is not None else " ".join(others)
            if not typed:
                return None, words
            rest = [w for w in words if w not in others]
            n = as_number(typed)
            if n is None:
                return typed, rest
            if not self.listed_items:
                return _Problem("see the numbers with `/checklist` first"), rest
            if not 1 <= n <= len(self.listed_items):
                return _Problem(f"the last checklist has items 1 to {len(self.listed_items)}"), rest
            return self.listed_items[n - 1], rest
        if given is None and words and p.kind == "flag":
            if words[0].casefold() == p.name:
                return True, words[1:]
            return None, words
        if given is None and not words:
            return None, words
        text = given if given is not None else words[0]
        rest = words if given is not None else words[1:]
        if p.kind in ("phase", "member", "role", "channel"):
            n = as_number(text.strip("<@&#!>"))  # <@&123> or <#123> as Discord writes them
            if n is None or (p.kind != "phase" and not 0 < n < 2**63):
                return _Problem(f"{p.name.upper()} must be a number, not “{text[:20]}”"), rest
            return n, rest
        if p.kind == "on_off":
            if text.casefold() not in ("on", "off"):
                return _Problem(f"{p.name.upper()} is on or off"), rest
            return text.casefold() == "on", rest
        return text, rest

    async def _help(self) -> Reply:
        reply = await self.engine.run("help", self.member)
        return Reply(reply.title, reply.body + CONSOLE_HELP, kind=Kind.HELP)

    async def _export(self, args: list[str]) -> Reply:
        reply = await self.engine.run("privacy export", self.member)
        if reply.attachment is None:
            return reply
        return _written(reply, reply.attachment, args, "Export", "/export FILE")

    def _save(self, args: list[str]) -> Reply:
        """``/save [FILE]``: the picture of the last reply (a progress card) as a PNG file."""
        if self.attachment is None:
            return Reply("Nothing to save", "The last reply has no picture. `/progress` has one.",
                         kind=Kind.ERROR, tone="warning", error=ErrorCause.MEMBER)
        done = Reply("Saved", self.attachment.description, kind=Kind.HELP)
        return _written(done, self.attachment, args, "Picture", "/save FILE")

    # --- loop ---------------------------------------------------------------------------------

    def _setup_completion(self) -> None:
        try:
            import readline
        except ImportError:  # pragma: no cover - not on every platform
            return
        items = sorted(self.engine.kb.item_by_id)
        names = self.command_names()

        def complete(text: str, state: int) -> str | None:
            buf = readline.get_line_buffer()
            pool = names if not buf.strip() or buf.lstrip() == text else items
            hits = [c for c in pool if c.startswith(text)]
            return hits[state] if state < len(hits) else None

        readline.set_completer(complete)
        readline.set_completer_delims(" ")
        readline.parse_and_bind("tab: complete")

    async def run(self, stdin: IO[str] | None = None) -> int:
        """Read and answer lines until end of input or ``/quit``. Returns the exit status:
        0, or 130 after Ctrl-C at the prompt. (Ctrl-C while piped cancels the task; the CLI
        turns that into status 130.)"""
        stdin = stdin if stdin is not None else sys.stdin
        if stdin is None:  # started with stdin closed (`mentorbot chat <&-`): nothing to read
            return 0
        if not 0 < self.member.user_id < 2**63:  # the database would refuse every change
            print(f"mentorbot: the member id must be a positive 64-bit number, not "
                  f"{self.member.user_id}", file=sys.stderr)
            return 2
        interactive = _isatty(stdin) and _isatty(self.out)
        reader = None if interactive else _LineReader(stdin)
        status = 0
        if interactive:
            self._setup_completion()
            self.say("mentorbot: your MLOps career mentor. Ask a question, or /help. "
                     "Ctrl-D to leave.")
        try:
            while True:
                try:
                    if reader is None:
                        await asyncio.sleep(0)  # a Ctrl-C during the last reply ends here
                        line = _prompt("you> ")
                    else:
                        line = await reader.readline()
                except EOFError:
                    break
                except KeyboardInterrupt:
                    status = 130
                    print(file=self.out)
                    break
                except UnicodeDecodeError:
                    self.say("I couldn't read that line (it isn't UTF-8 text).")
                    continue
                if reader is not None and line == "":
                    break
                try:
                    if not await self.handle(line):
                        break
                except BrokenPipeError:  # `mentorbot chat < script | head`: the reader left
                    _silence(self.out)
                    break
                except Exception as exc:  # the engine guards its flows; this is the last net
                    self.say(f"Sorry, that failed ({type(exc).__name__}). Try again or /help.")
        finally:
            if reader is not None:
                reader.close()
        if interactive:
            self.say("bye!")
        return status


class _Problem(str):
    """What is wrong with one typed parameter."""


def _written(reply: Reply, attachment: Attachment, args: list[str], what: str,
             usage: str) -> Reply:
    """Write ``attachment`` where the member says, or to their home folder (never silently into
    whatever directory, a repository perhaps, the console was started in): a new file only
    they can read; an existing file is never overwritten."""
    path = Path(" ".join(args)).expanduser() if args else Path.home()
    if path.is_dir():
        path = path / attachment.filename
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(attachment.data)
    except FileExistsError:
        return Reply(f"{what} not written", f"`{path}` already exists, and I won't "
                     f"overwrite it. Give another file name: `{usage}`.",
                     kind=Kind.ERROR, tone="warning", error=ErrorCause.MEMBER)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return Reply(f"{what} failed", f"Could not write `{path}`: {reason}",
                     kind=Kind.ERROR, tone="error", error=ErrorCause.MEMBER)
    return Reply(reply.title, reply.body + f"\n\nWritten to `{path}` "
                 f"({len(attachment.data)} bytes).", kind=reply.kind, tone="success")


def _usage(*specs: CommandSpec, problems: list[str] | None = None) -> Reply:
    """How to use one command (or a group's): the usage derived from the table, what was wrong
    with the line, and what each parameter is."""
    usage = "  |  ".join(f"`{spec.usage}`" for spec in specs)
    said = "".join(f"\n• {p}" for p in problems or [])
    params = {p.name: p for spec in specs for p in spec.params if p.help}
    helps = "".join(f"\n`{p.name.upper()}`: {p.help}" for p in params.values())
    return Reply("How to use it", f"Usage: {usage}{said}{helps}", kind=Kind.HELP,
                 tone="warning")


def _split(text: str) -> list[str]:
    """Arguments as a shell would split them; an unterminated quote is forgiven."""
    try:
        return shlex.split(text)
    except ValueError:
        return [a.strip("\"'") for a in text.split() if a.strip("\"'")]


def _silence(stream: IO[str]) -> None:
    """Point a closed pipe's descriptor at /dev/null, so the final flush at exit is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
