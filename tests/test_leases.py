"""The lease owner format, "host:pid:run", built for each process and read back by the store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from storage import dead_owner, lease_owner, run_token


def test_an_owner_names_this_host_this_process_and_the_run() -> None:
    owner = lease_owner("run42")
    assert owner == f"{socket.gethostname()}:{os.getpid()}:run42"
    assert run_token(owner) == "run42"
    fresh = lease_owner()
    assert run_token(fresh) != run_token(lease_owner())  # a new run each time


def test_only_a_gone_process_of_this_host_is_a_dead_owner() -> None:
    host = socket.gethostname()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert dead_owner(f"{host}:{gone.stdout.strip()}:r")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as alive:
        try:
            assert not dead_owner(f"{host}:{alive.pid}:r")
        finally:
            alive.kill()
    assert not dead_owner(lease_owner("r"))  # this process
    assert not dead_owner(f"another-host.example:{gone.stdout.strip()}:r")  # cannot tell
    assert not dead_owner("not an owner")
    assert not dead_owner(f"{host}:pid:r")
