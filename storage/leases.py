"""Who holds what: lease owners, and store URLs as messages name them.

Lease owners, "host:pid:run": built by the pipeline for each process, read back by every
backend. The run part says which run holds a feed (worker processes of one run share it, so
a feed is done once per run whichever worker claims it), the host and pid whether the holder
is still alive."""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlsplit

__all__ = ["dead_owner", "lease_owner", "lease_taken", "redact_url", "run_token"]


def lease_owner(run: str | None = None) -> str:
    """A lease owner id unique to this process, for the run `run` (a new one when None)."""
    return f"{socket.gethostname()}:{os.getpid()}:{run or uuid.uuid4().hex[:12]}"


def run_token(owner: str) -> str:
    """The run part of a lease owner."""
    return owner.rsplit(":", 1)[-1]


def dead_owner(owner: str) -> bool:
    """True when `owner` is another process of this host that no longer runs (a run killed
    with SIGKILL): its leases are void at once instead of when they expire. A zombie -- a
    process that exited but that its parent has not reaped, as in a container without an
    init -- is dead too: it will never write again (issue #17)."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive (or a zombie), someone else's
        pass
    return _zombie(pid)


def lease_taken(holder: str | None, until_ms: int, owner: str, now_ms: int) -> bool:
    """Whether a lease held by `holder` until `until_ms` keeps `owner` out at `now_ms`: held
    by another owner, not expired, and that owner is not known dead."""
    return holder not in (None, owner) and until_ms >= now_ms and not dead_owner(str(holder))


def _zombie(pid: int) -> bool:
    """The process has exited and waits to be reaped: state Z in /proc/<pid>/stat (Linux;
    elsewhere, or if the file cannot be read, it counts as alive)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ")"
    fields = stat[stat.rfind(b")") + 1 :].split()
    return bool(fields) and fields[0] in (b"Z", b"X")


def redact_url(url: str) -> str:
    """A store URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    if password is None:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
