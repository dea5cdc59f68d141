"""Run the `ingest` CLI in a child process on a real terminal (a pty), as an operator would."""

from __future__ import annotations

import os
import sys


def in_pty(args: list[str], env: dict[str, str], answer: bytes | None = None) -> tuple[int, str]:
    """(exit code, everything the terminal showed). `answer` is typed at the first
    confirmation question ("Go ahead?")."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI with the pty as stdin, stdout and stderr
        os.execve(sys.executable, [sys.executable, "-m", "ingest", *args], env)
    out = b""
    sent = answer is None
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if not sent and b"Go ahead?" in out:
            os.write(fd, answer or b"")
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")
