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
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import IO

from bot.engine.context import Member
from bot.engine.core import Engine
from bot.engine.replies import Action, Reply

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
MAX_LINE = 10_000
MAX_BUFFER = 4 * MAX_LINE  # the rest of an over-long line is dropped while reading

COMMAND_NAMES = (
    "/ask", "/quiz", "/checklist", "/done", "/undo", "/progress", "/reminders", "/phase",
    "/levels", "/tools", "/roadmap", "/roadblock", "/faq", "/export", "/delete", "/share",
    "/privacy", "/stats", "/help", "/quit",
)
QUIT_WORDS = ("/quit", "/exit", "/q", "quit", "exit")
FREE_TEXT = ("/ask", "/roadblock", "/faq")  # the rest of the line as typed, quotes and all

CONSOLE_HELP = (
    "\n\n**In this console**\n"
    "A plain line is a question. When a reply offers numbered choices, type the number or the "
    "label (`y`/`n` work in the quiz).\n"
    "`/done ITEM [link]`: mark a checklist item done (its id, a few words of its title, or its "
    "number in the last `/checklist`), with an optional evidence link\n"
    "`/undo ITEM`: mark it not done again\n"
    "`/export [FILE]`: write your data to a JSON file\n"
    "`/delete`: delete your data (asks first)\n"
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


def plain_text(reply: Reply) -> str:
    """A reply as plain text: for pipes, scripts and ``mentorbot ask``."""
    lines = [f"== {reply.title} ==", plain_markdown(local_times(reply.body))]
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
        self.listed_items: list[str] = []  # item ids of the last checklist shown, in order
        self._console = None
        if self.rich:
            from rich.console import Console as RichConsole

            self._console = RichConsole(file=self.out, highlight=False)

    # --- output -------------------------------------------------------------------------------

    def show(self, reply: Reply) -> None:
        self.choices = list(reply.actions)
        self.quiz_index = None
        if any(a.id.startswith("quiz:ans:") for a in reply.actions):
            index = reply.meta.get("index")
            self.quiz_index = index if isinstance(index, int) else 0
        items = [a.id.split(":", 2)[2] for a in reply.actions
                 if a.id.startswith(("chk:done:", "chk:undo:"))]
        if reply.kind == "checklist" and len(items) > 1:
            self.listed_items = items
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
        name, _, rest = re.sub(r"\s", " ", line, count=1).partition(" ")
        name, rest = name.casefold(), rest.strip()
        handler = self._commands().get(name)
        if handler is None:
            close = difflib.get_close_matches(name, COMMAND_NAMES, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]}?" if close else ""
            self.say(f"Unknown command {name[:40]}.{hint} Type /help for the list.")
            return True
        args = [rest] if name in FREE_TEXT else _split(rest)
        self._show_pausing(await handler(args))
        return True

    def _awaiting_answer(self) -> bool:
        """A quiz question or a confirmation is open: a stray line must not lose it."""
        return any(a.id.startswith(("quiz:ans:", "priv:delete:")) for a in self.choices)

    async def _question(self, line: str) -> bool:
        if self.choices:
            status = self.engine.deps.matcher.match(line).status
            # "ok?", "🤖", "-1" while a choice is open, or anything I can't answer while a
            # quiz question or a confirmation waits: keep the choices, say how to pick one
            unclear = status == "empty" or not any(c.isalpha() for c in line)
            if unclear or (self._awaiting_answer() and status not in ("answered", "ambiguous")):
                self.say(f"I didn't get that. {self._choice_hint()}")
                return True
        self._show_pausing(await self.engine.ask(self.member, line))
        return True

    def _show_pausing(self, reply: Reply) -> None:
        """Show a reply that takes the place of an open quiz question, saying so."""
        quiz_index = self.quiz_index
        self.show(reply)
        if quiz_index is not None and self.quiz_index is None and not reply.kind.startswith("quiz"):
            self.say(f"(The quiz is paused at question {quiz_index + 1}: /quiz continues it.)")

    def _commands(self) -> dict[str, Callable[[list[str]], Awaitable[Reply]]]:
        e, m = self.engine, self.member
        rest = " ".join

        def num(args: list[str]) -> int | None:
            return as_number(args[0]) if args else None

        async def reminders(args: list[str]) -> Reply:
            sub = args[0].casefold() if args else "status"
            if sub == "on":
                opts = dict(a.split("=", 1) for a in args[1:] if "=" in a)
                pos = [a for a in args[1:] if "=" not in a]
                return await e.reminders_on(
                    m, opts.get("weekday", pos[0] if len(pos) > 0 else None),
                    opts.get("hour", pos[1] if len(pos) > 1 else None),
                    opts.get("timezone", pos[2] if len(pos) > 2 else None))
            if sub == "off":
                return await e.reminders_off(m)
            if sub == "snooze":
                return await e.reminders_snooze(m)
            if sub == "status":
                return await e.reminders_status(m)
            return _usage("/reminders on [weekday] [hour] [timezone]  |  /reminders off | "
                          "status | snooze   (e.g. `/reminders on friday 18 Europe/Berlin`)")

        async def checklist(args: list[str]) -> Reply:
            if args and args[0].casefold() in ("done", "undo"):
                return await (done if args[0].casefold() == "done" else undo)(args[1:])
            if args and args[0].casefold() == "view":
                args = args[1:]
            if args and num(args) is None:
                return _usage("/checklist [phase 1-4]  |  /checklist done ITEM [link]  |  "
                              "/checklist undo ITEM")
            return await e.checklist_view(m, num(args))

        def item_text(args: list[str], usage: str) -> str | Reply:
            text = rest(args).strip()
            if not text:
                return _usage(usage)
            n = as_number(text)
            if n is not None:  # the n-th item of the last checklist shown
                if not self.listed_items:
                    return _usage(f"{usage}   (see the numbers with `/checklist` first)")
                if not 1 <= n <= len(self.listed_items):
                    return _usage(f"{usage}   (the last checklist has items 1 to "
                                  f"{len(self.listed_items)})")
                return self.listed_items[n - 1]
            return text

        async def done(args: list[str]) -> Reply:
            evidence = None
            for i, a in enumerate(args):
                if a.casefold().startswith("evidence="):
                    evidence = a.split("=", 1)[1]
                elif _LINK.fullmatch(a) and i > 0:
                    evidence = a
                else:
                    continue
                args = args[:i] + args[i + 1:]
                break
            item = item_text(args, "/done ITEM [evidence link]")
            if isinstance(item, Reply):
                return item
            return await e.checklist_done(m, item, evidence)

        async def undo(args: list[str]) -> Reply:
            item = item_text(args, "/undo ITEM")
            if isinstance(item, Reply):
                return item
            return await e.checklist_undo(m, item)

        async def progress(args: list[str]) -> Reply:
            if not args:
                return await e.progress(m)
            target = num(args)
            if target is None or not 0 < target < 2**63:
                return _usage("/progress [member id]")
            return await e.progress(m, target)

        async def share(args: list[str]) -> Reply:
            if not args or args[0].casefold() not in ("on", "off"):
                return _usage("/share on  |  /share off")
            return await e.share(m, args[0].casefold() == "on")

        return {
            "/ask": lambda a: e.ask(m, rest(a)),
            "/quiz": lambda a: e.quiz(m, restart=bool(a) and a[0].casefold() == "restart"),
            "/checklist": checklist,
            "/done": done,
            "/undo": undo,
            "/progress": progress,
            "/reminders": reminders,
            "/phase": lambda a: e.phase(m, num(a)),
            "/levels": lambda a: e.levels(m),
            "/tools": lambda a: e.tools(m, num(a)),
            "/roadmap": lambda a: e.roadmap(m),
            "/roadblock": lambda a: e.roadblock(m, rest(a)),
            "/faq": lambda a: e.faq(m, rest(a)),
            "/export": lambda a: self._export(a),
            "/delete": lambda a: e.delete(m, confirmed=False),
            "/share": share,
            "/privacy": lambda a: self._privacy(a),
            "/stats": lambda a: e.stats(m),
            "/help": lambda a: self._help(),
        }

    async def _help(self) -> Reply:
        reply = await self.engine.help(self.member)
        return Reply(reply.title, reply.body + CONSOLE_HELP, kind="help")

    async def _privacy(self, args: list[str]) -> Reply:
        sub = args[0].casefold() if args else ""
        if sub == "export":
            return await self._export(args[1:])
        if sub == "delete":
            return await self.engine.delete(self.member, confirmed=False)
        if sub == "share" and len(args) > 1 and args[1].casefold() in ("on", "off"):
            return await self.engine.share(self.member, args[1].casefold() == "on")
        return _usage("/privacy export [FILE]  |  /privacy delete  |  /privacy share on|off")

    async def _export(self, args: list[str]) -> Reply:
        reply = await self.engine.export(self.member)
        if reply.attachment is None:
            return reply
        path = Path(" ".join(args)).expanduser() if args else Path(reply.attachment.filename)
        if path.is_dir():
            path = path / reply.attachment.filename
        try:
            path.write_bytes(reply.attachment.data)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            return Reply("Export failed", f"Could not write `{path}`: {reason}",
                         kind="error", tone="error")
        return Reply(reply.title, reply.body + f"\n\nWritten to `{path}` "
                     f"({len(reply.attachment.data)} bytes).", kind="privacy", tone="success")

    # --- loop ---------------------------------------------------------------------------------

    def _setup_completion(self) -> None:
        try:
            import readline
        except ImportError:  # pragma: no cover - not on every platform
            return
        items = sorted(self.engine.kb.item_by_id)

        def complete(text: str, state: int) -> str | None:
            buf = readline.get_line_buffer()
            pool = COMMAND_NAMES if not buf.strip() or buf.lstrip() == text else items
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


def _usage(text: str) -> Reply:
    return Reply("How to use it", f"Usage: `{text}`", kind="help", tone="warning")


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
