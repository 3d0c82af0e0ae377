"""`RunLock`: one run per root, the holder named, released on exit and on kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from civittui.errors import StateError
from civittui.runlock import RunLock

HOLDER = """
import sys, time
from pathlib import Path
from civittui.runlock import RunLock
lock = RunLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # held until the parent closes stdin or kills us
"""


def test_a_second_lock_is_refused_and_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "root" / ".civittui" / "lock"
    with RunLock(path):
        assert path.read_text("utf-8") == str(os.getpid())
        with pytest.raises(StateError) as refused:
            RunLock(path).acquire()
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message and str(tmp_path / "root") in message
    with RunLock(path):  # released on exit: the next run takes it
        pass
    assert path.exists()  # the file stays; only the OS lock matters


def test_release_twice_is_harmless(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / ".civittui" / "lock")
    lock.acquire()
    lock.release()
    lock.release()


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is a POSIX signal")
def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    path = tmp_path / ".civittui" / "lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"  # waits for the child, no sleep
        with pytest.raises(StateError, match=f"pid {holder.pid}"):
            RunLock(path).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()
    with RunLock(path):
        assert path.read_text("utf-8") == str(os.getpid())


def test_an_unusable_folder_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "root"
    blocker.write_text("a file where the root should be", "utf-8")
    with pytest.raises(StateError, match="cannot create"):
        RunLock(blocker / ".civittui" / "lock").acquire()
