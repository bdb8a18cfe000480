"""``mentorbot chat`` in a pseudo-terminal: banner, ``you>`` prompt, rich panels, tab completion,
Ctrl-D and Ctrl-C.

Skipped where there is no ``pty`` (Windows). Each test takes about two seconds.
"""

from __future__ import annotations

import os
import select
import sys
import time

import pytest

from tests.console.conftest import chat_argv, chat_env

pty = pytest.importorskip("pty")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


class Terminal:
    """A child process on a pseudo-terminal (its controlling terminal, as in a shell)."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: never returns
            try:
                os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.seen = b""
        self.pos = 0  # where the next expect() starts looking
        self.code: int | None = None

    def expect(self, token: bytes, timeout: float = 30) -> bytes:
        """Wait for ``token`` after the previous match; return what came up to its end."""
        end = time.monotonic() + timeout
        while (found := self.seen.find(token, self.pos)) < 0:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{token!r} not seen; got {self.seen[-2000:]!r}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{token!r} not seen before exit; got "
                                         f"{self.seen[-2000:]!r}")
                self.seen += chunk
        start, self.pos = self.pos, found + len(token)
        return self.seen[start:self.pos]

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 15) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:  # drain so the child never blocks on a full terminal
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.seen += os.read(self.fd, 65536)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
                return self.code
        raise AssertionError(f"still running; got {self.seen[-2000:]!r}")

    def close(self) -> None:
        if self.code is None:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        os.close(self.fd)


@pytest.fixture
def terminal(tmp_path, sqlite_url):
    env = chat_env(tmp_path) | {"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}
    env.pop("NO_COLOR", None)
    term = Terminal(chat_argv(sqlite_url), env, str(tmp_path))
    yield term
    term.close()


def test_terminal_banner_prompt_rich_panels_completion_and_ctrl_d(terminal):
    banner = terminal.expect(b"you> ")
    assert b"mentorbot: your MLOps career mentor. Ask a question, or /help." in banner
    terminal.send(b"/quiz\n")
    shown = terminal.expect(b"you> ")
    assert b"\xe2\x95\xad\xe2\x94\x80" in shown  # "╭─": a rich panel
    assert b"Which phase are you in?" in shown and b"\x1b[" in shown  # with colours
    assert b"[1]" in shown and b"Yes" in shown and b"Start over" in shown
    terminal.send(b"y\n")
    assert b"Question 2 of 6" in terminal.expect(b"you> ")
    terminal.send(b"/checkl\t 2\n")  # tab completes commands (not /chec: /checkin) ...
    assert b"Phase 2 checklist" in terminal.expect(b"you> ")
    terminal.send(b"/done p2.po\t\n")  # ... and checklist item ids
    shown = terminal.expect(b"you> ")
    assert b"/done p2.post-mortem" in shown and b"Checklist updated" in shown
    terminal.send(b"\x04")  # Ctrl-D
    terminal.expect(b"bye!")
    assert terminal.wait() == 0
    assert b"Traceback" not in terminal.seen


def test_ctrl_c_at_the_prompt_leaves_cleanly(terminal):
    terminal.expect(b"you> ")
    terminal.send(b"/progress\n")
    terminal.expect(b"Overall")
    terminal.expect(b"you> ")
    time.sleep(0.2)
    terminal.send(b"\x03")  # Ctrl-C: SIGINT from the terminal
    terminal.expect(b"bye!")
    assert terminal.wait() in (130, 0)
    assert b"Traceback" not in terminal.seen and b"KeyboardInterrupt" not in terminal.seen
