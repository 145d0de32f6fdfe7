"""Liveness of the host: a line that streams noise without a sync byte, or keeps repeating
an old valid reply, ends in retries and then a clear LinkError within bounded time and
bounded reads (every attempt has a byte budget, and a wall-clock deadline on a real port)."""

from __future__ import annotations

import time

import pytest

from synemu.link.protocol import (HELLO, LinkError, LinkHost, LinkSpec, ModelTransport,
                                  BoardModel, reply_frame)
from synemu.spec.engine import EngineConfig
from synemu.spec.registry import make_device


def _spec():
    return LinkSpec(EngineConfig(device=make_device("probe"), rows=3, cols=4, lanes=2))


class Streaming:
    """A port that answers every read at once with ``pattern`` bytes, forever."""

    def __init__(self, pattern: bytes, real_time: bool):
        self.pattern, self.real_time, self.reads, self.bytes = pattern, real_time, 0, 0

    def write(self, data):
        pass

    def read(self, n, timeout):
        self.reads += 1
        self.bytes += n
        assert self.reads < 200_000, "host never gave up"
        reps = self.pattern * (n // len(self.pattern) + 1)
        return reps[:n]

    def flush_input(self):
        pass


@pytest.mark.parametrize("real_time", [False, True])
def test_noise_without_sync_byte_ends_in_link_error(real_time):
    port = Streaming(b"hello from a terminal, not a board\r\n", real_time)
    t0 = time.monotonic()
    with pytest.raises(LinkError, match="no valid reply after 5 attempts"):
        LinkHost(port, _spec(), retries=4)
    assert time.monotonic() - t0 < 10
    assert port.bytes <= 5 * (6 * (_spec().tx_max + 9) + 64)


@pytest.mark.parametrize("real_time", [False, True])
def test_repeated_stale_reply_ends_in_link_error(real_time):
    # a valid reply, but to sequence number 200 (the host's first request is 0)
    old = reply_frame(200, HELLO | 0x80, b"\x00" * 8)
    port = Streaming(old, real_time)
    host_t0 = time.monotonic()
    with pytest.raises(LinkError, match="no valid reply after 4 attempts"):
        LinkHost(port, _spec(), retries=3)
    assert time.monotonic() - host_t0 < 10
    assert port.reads < 5_000


def test_slow_real_port_hits_the_wall_clock_deadline():
    """A real port that trickles one noise byte per read, each read taking its whole
    timeout: the attempt ends at its deadline (4 timeouts), not after the byte budget."""

    class Trickle(Streaming):
        def read(self, n, timeout):
            self.reads += 1
            time.sleep(timeout)
            return b"x"

    spec = _spec()
    port = Trickle(b"x", True)
    host = LinkHost(ModelTransport(BoardModel(spec)), spec)      # a working link first
    host.t = port
    host.latency_s = 0.02
    t0 = time.monotonic()
    with pytest.raises(LinkError):
        host.transact(HELLO, expect_len=None)
    secs = time.monotonic() - t0
    assert secs < 5 and port.reads < 2_000
