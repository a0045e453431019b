"""Claim files: one job, one live holder; a dead holder's claim is taken over."""
import json
import os
import socket
import subprocess
import sys

from mlh_ipi.claims import holder_alive, release, try_claim


def test_live_holder_blocks_dead_holder_is_taken_over_and_release_frees(tmp_path):
    claim = tmp_path / "job.claim"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claim.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))
        assert holder_alive(claim)
        assert not try_claim(claim)  # held by a live process
    finally:
        holder.kill()
        holder.wait()
    assert not holder_alive(claim)
    assert try_claim(claim)  # stale claim taken over
    assert json.loads(claim.read_text())["pid"] == os.getpid()
    assert try_claim(claim)  # this process's own leftover counts as free
    release(claim)
    assert not claim.exists()
    release(claim)  # releasing twice is fine


def test_claim_from_another_host_counts_as_alive(tmp_path):
    claim = tmp_path / "job.claim"
    claim.write_text(json.dumps({"pid": 1, "host": socket.gethostname() + "-elsewhere"}))
    assert holder_alive(claim) and not try_claim(claim)
