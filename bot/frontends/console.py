"""``mentorbot chat``: the mentor in a terminal, no Discord and no network needed.

The same engine and flows as the Discord bot. Commands mirror the slash commands (``/ask``,
``/quiz``, ``/checklist``, ``/done``, ``/progress``, ``/reminders``, ``/help`` …); a plain line
is a question. When a reply offers choices they are numbered: type the number or the label.
In a terminal the output is rich text with tab completion; piped, it is plain text with no
prompt, so the console can be scripted.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import IO

from bot.engine.core import COMMANDS, Engine
from bot.engine.context import Member
from bot.engine.replies import Action, Reply

_TS = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_LINE = 10_000

COMMAND_NAMES = (
    "/ask", "/quiz", "/checklist", "/done", "/undo", "/progress", "/reminders", "/phase",
    "/levels", "/tools", "/roadmap", "/roadblock", "/faq", "/export", "/delete", "/share",
    "/help", "/quit",
)


def local_times(text: str) -> str:
    """Discord ``<t:…>`` markup → the terminal's local time."""

    def one(m: re.Match[str]) -> str:
        try:
            moment = datetime.fromtimestamp(int(m.group(1))).astimezone()
        except (OverflowError, OSError, ValueError):
            return m.group(0)
        if m.group(2) == "R":
            delta = moment - datetime.now().astimezone()
            days = round(delta.total_seconds() / 86400)
            if abs(delta.total_seconds()) < 3600:
                return "just now" if delta.total_seconds() <= 0 else "within the hour"
            if days == 0:
                return "today"
            return f"in {days} day(s)" if days > 0 else f"{-days} day(s) ago"
        return moment.strftime("%a %d %b %Y %H:%M %Z")

    return _TS.sub(one, text)


def plain_text(reply: Reply) -> str:
    """A reply as plain text: for pipes, scripts and ``mentorbot ask``."""
    lines = [f"== {reply.title} ==", local_times(reply.body)]
    lines += [f"{f.name}: {local_times(f.value)}" for f in reply.fields]
    if reply.footer:
        lines.append(f"({reply.footer})")
    if reply.actions:
        lines.append("Choices: " + "  ".join(f"[{n}] {a.label}"
                                              for n, a in enumerate(reply.actions, 1)))
    return "\n".join(lines)


class Console:
    def __init__(self, engine: Engine, member: Member, out: IO[str] | None = None,
                 rich: bool | None = None):
        self.engine = engine
        self.member = member
        self.out = out or sys.stdout
        self.rich = self.out.isatty() if rich is None else rich
        self.choices: list[Action] = []
        self.pending_export: Reply | None = None
        self._console = None
        if self.rich:
            from rich.console import Console as RichConsole

            self._console = RichConsole(file=self.out, highlight=False)

    # --- output -------------------------------------------------------------------------------

    def show(self, reply: Reply) -> None:
        self.choices = [a for a in reply.actions]
        body = local_times(reply.body)
        fields = [(f.name, local_times(f.value)) for f in reply.fields]
        if self._console is not None:
            from rich.markdown import Markdown
            from rich.panel import Panel

            text = body + "".join(f"\n\n**{n}**: {v}" for n, v in fields)
            if reply.footer:
                text += f"\n\n*{reply.footer}*"
            style = {"error": "red", "warning": "yellow", "success": "green"}.get(reply.tone,
                                                                                  "cyan")
            self._console.print(Panel(Markdown(text), title=reply.title, border_style=style,
                                      title_align="left"))
            if self.choices:
                self._console.print("  ".join(f"[bold][{n}][/bold] {a.label}"
                                              for n, a in enumerate(self.choices, 1)))
        else:
            print(plain_text(reply) + "\n", file=self.out, flush=True)
        if reply.attachment is not None:
            self.pending_export = reply

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # --- input --------------------------------------------------------------------------------

    def _choice(self, line: str) -> Action | None:
        if not self.choices:
            return None
        key = line.strip().casefold()
        if key.isdigit() and 1 <= int(key) <= len(self.choices):
            return self.choices[int(key) - 1]
        aliases = {"y": "yes", "n": "no", "b": "back"}
        key = aliases.get(key, key)
        for action in self.choices:
            label = action.label.casefold().lstrip("✓↩ ").strip()
            if key == label:
                return action
        return None

    async def handle(self, line: str) -> bool:
        """One line of input. Returns False when the session should end."""
        line = _CONTROL.sub(" ", line)[:MAX_LINE].strip()
        if not line:
            return True
        action = self._choice(line)
        if action is not None:
            self.show(await self.engine.act(self.member, action.id))
            return True
        if not line.startswith("/"):
            self.show(await self.engine.ask(self.member, line))
            return True
        try:
            parts = shlex.split(line)
        except ValueError:
            parts = line.split()
        name, args = parts[0].casefold(), parts[1:]
        if name in ("/quit", "/exit", "/q"):
            return False
        handler = self._commands().get(name)
        if handler is None:
            self.say(f"Unknown command {name[:40]}. Type /help for the list.")
            return True
        self.show(await handler(args))
        return True

    def _commands(self) -> dict[str, Callable[[list[str]], Awaitable[Reply]]]:
        e, m = self.engine, self.member
        rest = " ".join

        def num(args: list[str]) -> int | None:
            return int(args[0]) if args and args[0].isdigit() else None

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
            return await e.reminders_status(m)

        async def checklist(args: list[str]) -> Reply:
            if args and args[0] in ("done", "undo"):
                return await (done if args[0] == "done" else undo)(args[1:])
            if args and args[0] == "view":
                args = args[1:]
            return await e.checklist_view(m, num(args))

        async def done(args: list[str]) -> Reply:
            evidence = next((a for a in args[1:] if a.startswith(("http", "evidence="))), None)
            if evidence:
                evidence = evidence.removeprefix("evidence=")
            return await e.checklist_done(m, args[0] if args else "", evidence)

        async def undo(args: list[str]) -> Reply:
            return await e.checklist_undo(m, args[0] if args else "")

        async def progress(args: list[str]) -> Reply:
            return await e.progress(m, int(args[0]) if args and args[0].isdigit() else None)

        async def share(args: list[str]) -> Reply:
            return await e.share(m, bool(args) and args[0].casefold() == "on")

        return {
            "/ask": lambda a: e.ask(m, rest(a)),
            "/quiz": lambda a: e.quiz(m, restart=bool(a) and a[0] == "restart"),
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
            "/help": lambda a: self._help(),
        }

    async def _help(self) -> Reply:
        reply = await self.engine.help(self.member)
        extra = ("\n\nIn this console: a plain line is a question; type a choice's number or "
                 "label; `/export FILE` writes your data to a file; `/quit` (or Ctrl-D) ends.")
        return Reply(reply.title, reply.body + extra, kind="help")

    async def _privacy(self, args: list[str]) -> Reply:
        sub = args[0].casefold() if args else ""
        if sub == "export":
            return await self._export(args[1:])
        if sub == "delete":
            return await self.engine.delete(self.member, confirmed=False)
        if sub == "share":
            return await self.engine.share(self.member, len(args) > 1 and args[1] == "on")
        return Reply("Privacy", "Use `/privacy export [FILE]`, `/privacy delete` or "
                     "`/privacy share on|off`.", kind="help")

    async def _export(self, args: list[str]) -> Reply:
        reply = await self.engine.export(self.member)
        if reply.attachment is None:
            return reply
        path = Path(args[0]) if args else Path(reply.attachment.filename)
        try:
            path.write_bytes(reply.attachment.data)
        except OSError as exc:
            return Reply("Export failed", f"Could not write {path}: {exc.strerror}",
                         kind="error", tone="error")
        return Reply(reply.title, reply.body + f"\n\nWritten to `{path}` "
                     f"({len(reply.attachment.data)} bytes).", kind="privacy")

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
        stdin = stdin or sys.stdin
        interactive = stdin.isatty() and self.out.isatty()
        if interactive:
            self._setup_completion()
            self.say("mentorbot: your MLOps career mentor. Ask a question, or /help. "
                     "Ctrl-D to leave.")
        loop = asyncio.get_running_loop()
        while True:
            try:
                if interactive:
                    line = await loop.run_in_executor(None, input, "you> ")
                else:
                    line = await loop.run_in_executor(None, stdin.readline)
                    if line == "":
                        break
            except EOFError:
                break
            try:
                if not await self.handle(line):
                    break
            except Exception as exc:  # the engine guards its flows; this is the last net
                self.say(f"Sorry, that failed ({type(exc).__name__}). Try again or /help.")
        if interactive:
            self.say("bye!")
        return 0

    def help_text(self) -> str:
        return "\n".join(f"{n}: {t}" for n, t in COMMANDS)
