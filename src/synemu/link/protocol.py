"""Host link: frame format, CRC, the host-side protocol and a byte-exact Python model of the
board side (the golden model of :mod:`synemu.gateware.link`).

Frames (all integers little-endian; CRC = CRC-32/IEEE as :func:`zlib.crc32`, over every
byte after the sync byte)::

    request  (host -> board)  A5 | seq | type | len           | payload[len]  | crc32 (4)
    reply    (board -> host)  5A | seq | type | len_lo len_hi | payload[len]  | crc32 (4)

Request types: ``HELLO`` (capability handshake), ``CMDS`` (a batch of engine commands,
``cmd_bytes`` each, packed exactly like :func:`synemu.gateware.engine.command_layout`: op in
bits 0..3, then row, col, arg), ``COUNTERS`` (emulated time, samples and link statistics).
A reply has ``type | 0x80``; its payload is the response words (``resp_bytes`` each) of the
batch, the capability block or the counter block. ``NAK`` (0xEE, empty) answers a frame
whose CRC failed; ``BAD`` (0xEF, empty) a well-formed frame the board cannot execute.

Commands are validated before any of them runs: a ``CMDS`` frame holding a command the
engine cannot execute correctly (:func:`reject_reason`: undefined op, row/column/label out
of range, a WRITE word wider than the state, an argument wider than its field) executes
*none* of its commands and is answered ``REJECT`` (0xED) with the payload ``index, reason``
(the first bad command of the frame and its :class:`Reject` code); the board's state is
unchanged. Fields an op does not use are ignored. :class:`LinkHost` refuses to send such a
command in the first place.

Reliability: stop-and-wait with 8-bit sequence numbers. The board remembers the sequence
number of the last frame it executed and *replays* its stored reply when the same number
arrives again (a retry after a lost reply), so no command ever runs twice. ``HELLO`` always
executes (it starts a session; every LinkHost begins with one). Exactly-once execution relies
on the serial line being a FIFO (bytes are damaged, lost or repeated, never reordered) and
on the board ignoring bytes while it executes or transmits. The board's receiver drops a partial frame after
``idle_clks`` clocks without a byte and hunts for the next sync byte; the host retries on
NAK, timeout, CRC error, or malformed reply, flushing its input first.
"""

from __future__ import annotations

import enum
import functools
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..spec.engine import (COL_OPS, OP_WIDTH, PULSE_OPS, ROW_OPS, Command, EngineConfig,
                           GoldenEngine, Op)

__all__ = ["REQ_SYNC", "RSP_SYNC", "HELLO", "CMDS", "COUNTERS", "NAK", "BAD", "REJECT", "Reject",
           "reject_reason", "arg_limits", "random_wire_command", "VERSION",
           "LinkSpec", "Capabilities", "Counters", "LinkError", "LinkTimeout",
           "crc32", "request_frame", "reply_frame", "pack_command", "unpack_command",
           "LinkHost", "BoardModel", "ModelTransport", "FaultInjector", "config_crc",
           "cycles_of"]

REQ_SYNC, RSP_SYNC = 0xA5, 0x5A
HELLO, CMDS, COUNTERS = 0x01, 0x02, 0x03
NAK, BAD, REJECT = 0xEE, 0xEF, 0xED
VERSION = 2                # 2: CMDS frames validated as a whole (REJECT)
MAGIC = b"SYNE"
MAX_PAYLOAD = 255          # request payload bytes (one length byte)
HELLO_FMT = "<4sBBBBHHHBBBBBBHHIIII8s"
COUNTERS_FMT = "<QQQQIIII"


class LinkError(RuntimeError):
    """The link failed: board absent, wrong design, or too many failed retries."""


class LinkTimeout(LinkError):
    pass


class Reject(enum.IntEnum):
    """Why the board refused a ``CMDS`` frame (second byte of a ``REJECT`` reply)."""
    OP = 1        #: undefined op code
    ROW = 2       #: row >= rows (ops addressing a row)
    COL = 3       #: col >= cols (ops addressing a column)
    LABEL = 4     #: LEARN label >= rows
    WORD = 5      #: WRITE word does not fit the device's state width
    ARG = 6       #: pulse / input / tick count wider than its field


@functools.lru_cache(maxsize=32)
def arg_limits(config: EngineConfig) -> dict:
    """Op -> exclusive upper bound of its ``arg`` field on the wire (ops not listed: any);
    cached per config (read-only)."""
    lim = {Op.WRITE: 1 << config.device.state_width, Op.LOAD_X: 1 << config.x_width,
           Op.TICK: 1 << config.tick_width, Op.LEARN: config.rows}
    for op in PULSE_OPS:
        lim[op] = 1 << config.device.pulse_width
    return lim


def reject_reason(config: EngineConfig, cmd: Command) -> int:
    """0 if the board executes the wire command ``cmd`` (unsigned fields as packed), else
    its :class:`Reject` code: the rule :class:`synemu.gateware.link.LinkTop` applies."""
    try:
        op = Op(cmd.op)
    except ValueError:
        return Reject.OP
    if op in ROW_OPS and cmd.row >= config.rows:
        return Reject.ROW
    if op in COL_OPS and cmd.col >= config.cols:
        return Reject.COL
    lim = arg_limits(config).get(op)
    if lim is not None and cmd.arg >= lim:
        return Reject.LABEL if op is Op.LEARN else Reject.WORD if op is Op.WRITE else Reject.ARG
    return 0


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def config_crc(config: EngineConfig) -> int:
    """CRC-32 of the canonical JSON of the engine config (identifies device + parameters)."""
    import json
    return crc32(json.dumps(config.to_dict(), sort_keys=True).encode())


@dataclass(frozen=True)
class LinkSpec:
    """What the host and board agree on: engine config, UART divisor (clocks per bit),
    clock frequency (Hz, nominal in simulation), receiver idle timeout (clocks)."""

    config: EngineConfig
    divisor: int = 2
    clk_hz: int = 12_000_000
    idle_clks: int | None = None

    def __post_init__(self):
        if not isinstance(self.divisor, int) or not 2 <= self.divisor <= 1 << 20:
            raise ValueError(f"UART divisor must be an integer in 2..2**20 clocks per bit, "
                             f"not {self.divisor!r}")
        if not isinstance(self.clk_hz, int) or self.clk_hz < 1000:
            raise ValueError(f"clk_hz must be an integer >= 1000, not {self.clk_hz!r}")
        if self.idle_clks is None:
            object.__setattr__(self, "idle_clks", 32 * 10 * self.divisor)
        if not 16 <= self.idle_clks < 1 << 32:
            raise ValueError(f"idle_clks must be in 16..2**32-1, not {self.idle_clks}")

    @property
    def cmd_bits(self) -> int:
        c = self.config
        return OP_WIDTH + c.row_width + c.col_width + c.arg_width

    @property
    def cmd_bytes(self) -> int:
        return (self.cmd_bits + 7) // 8

    @property
    def resp_bytes(self) -> int:
        return (self.config.resp_width + 7) // 8

    @property
    def cmds_per_frame(self) -> int:
        return MAX_PAYLOAD // self.cmd_bytes

    @property
    def tx_max(self) -> int:
        """Reply buffer bytes: a power of two holding a whole FORWARD and the hello block."""
        need = max(struct.calcsize(HELLO_FMT), struct.calcsize(COUNTERS_FMT),
                   self.config.rows * self.resp_bytes)
        return 1 << (need - 1).bit_length()

    @property
    def baud(self) -> float:
        return self.clk_hz / self.divisor

    def hello_payload(self) -> bytes:
        c = self.config
        name = c.device.name.encode()[:8].ljust(8, b"\0")
        return struct.pack(HELLO_FMT, MAGIC, VERSION, self.cmd_bytes, self.resp_bytes,
                           c.device.state_width, c.rows, c.cols, c.lanes, c.resp_width,
                           c.arg_width, c.x_width, c.time_width, c.sample_width, 0,
                           MAX_PAYLOAD, self.tx_max, self.clk_hz, self.divisor,
                           self.idle_clks, config_crc(c), name)


@dataclass(frozen=True)
class Capabilities:
    """The board's answer to HELLO."""

    version: int
    cmd_bytes: int
    resp_bytes: int
    state_width: int
    rows: int
    cols: int
    lanes: int
    resp_width: int
    arg_width: int
    x_width: int
    time_width: int
    sample_width: int
    rx_max: int
    tx_max: int
    clk_hz: int
    divisor: int
    idle_clks: int
    config_crc: int
    device: str

    @classmethod
    def parse(cls, payload: bytes) -> "Capabilities":
        if len(payload) != struct.calcsize(HELLO_FMT):
            raise LinkError(f"HELLO reply of {len(payload)} bytes, expected "
                            f"{struct.calcsize(HELLO_FMT)}")
        f = struct.unpack(HELLO_FMT, payload)
        if f[0] != MAGIC:
            raise LinkError(f"not a synemu board (magic {f[0]!r})")
        return cls(*f[1:13], *f[14:20], f[20].rstrip(b"\0").decode(errors="replace"))


@dataclass(frozen=True)
class Counters:
    """Board counters: emulated ``time`` (ticks), learned ``samples``, clock ``cycles``
    since reset, ``busy_cycles`` (engine not idle), good ``frames``, ``crc_errors``,
    ``replays`` (duplicate frames answered from the reply buffer), executed ``commands``."""

    time: int
    samples: int
    cycles: int
    busy_cycles: int
    frames: int
    crc_errors: int
    replays: int
    commands: int

    @classmethod
    def parse(cls, payload: bytes) -> "Counters":
        if len(payload) != struct.calcsize(COUNTERS_FMT):
            raise LinkError(f"COUNTERS reply of {len(payload)} bytes")
        return cls(*struct.unpack(COUNTERS_FMT, payload))


def request_frame(seq: int, typ: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"request payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = bytes([seq & 0xFF, typ, len(payload)]) + payload
    return bytes([REQ_SYNC]) + body + struct.pack("<I", crc32(body))


def reply_frame(seq: int, typ: int, payload: bytes = b"") -> bytes:
    body = bytes([seq & 0xFF, typ]) + struct.pack("<H", len(payload)) + payload
    return bytes([RSP_SYNC]) + body + struct.pack("<I", crc32(body))


def pack_command(spec: LinkSpec, cmd: Command) -> bytes:
    """``cmd`` (already encoded by :meth:`EngineConfig.encode`) as ``cmd_bytes`` bytes;
    a command the board would reject (or whose fields do not fit) is a ValueError here."""
    c = spec.config
    for name, v, w in (("op", cmd.op, OP_WIDTH), ("row", cmd.row, c.row_width),
                       ("col", cmd.col, c.col_width), ("arg", cmd.arg, c.arg_width)):
        if not 0 <= int(v) < 1 << w:
            raise ValueError(f"command {cmd}: {name} {int(v)} does not fit its {w}-bit field")
    why = reject_reason(c, cmd)
    if why:
        raise ValueError(f"command {cmd} would be rejected by the board: {Reject(why).name} "
                         f"out of range ({c.rows}x{c.cols} array, {c.device.name} device)")
    v = (int(cmd.op) | int(cmd.row) << OP_WIDTH | int(cmd.col) << (OP_WIDTH + c.row_width)
         | int(cmd.arg) << (OP_WIDTH + c.row_width + c.col_width))
    return v.to_bytes(spec.cmd_bytes, "little")


def unpack_command(spec: LinkSpec, data: bytes) -> Command:
    c = spec.config
    v = int.from_bytes(data, "little")
    f = [OP_WIDTH, c.row_width, c.col_width, c.arg_width]
    out = []
    for w in f:
        out.append(v & ((1 << w) - 1))
        v >>= w
    return Command(out[0], out[1], out[2], out[3])


def cycles_of(config: EngineConfig, op: Op) -> int:
    """Upper bound of engine clocks for one command (for host timeouts)."""
    K, R, D = config.chunks, config.rows, config.depth
    return {Op.READ: 4, Op.UPDATE: 4, Op.UPD_ROW: K + 3, Op.HEBB_ROW: K + 3,
            Op.UPD_COL: R + 3, Op.TICK: D + 3, Op.FORWARD: R * (K + 4),
            Op.LEARN: R * (2 * K + 6) + D + 8, Op.SAMPLE: D + 6}.get(Op(op), 2) + 24


# -- host side -------------------------------------------------------------------------------
@dataclass
class LinkStats:
    frames: int = 0
    retries: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    naks: int = 0
    stale: int = 0
    bytes_out: int = 0
    bytes_in: int = 0


class _ReadBudget:
    """What one request attempt may still read: ``nbytes`` bytes and, if ``seconds`` is
    given (a real port), that much wall-clock time."""

    def __init__(self, nbytes: int, seconds: float | None):
        import time
        self._time = time.monotonic
        self.nbytes = nbytes
        self.deadline = None if seconds is None else self._time() + seconds

    def left(self, timeout: float) -> float:
        """Timeout of the next read (raises LinkTimeout when the budget is spent)."""
        if self.nbytes <= 0:
            raise LinkTimeout("no valid reply within the read budget (line noise or stale "
                              "replies)")
        if self.deadline is None:
            return timeout
        rem = self.deadline - self._time()
        if rem <= 0:
            raise LinkTimeout("reply deadline passed")
        return min(timeout, rem)

    def take(self, n: int):
        self.nbytes -= n


class LinkHost:
    """Host side of the protocol over a *transport* with ``write(bytes)``,
    ``read(n, timeout_s) -> bytes`` (may return fewer on timeout) and ``flush_input()``.

    ``spec`` gives the expected design (checked against the board's HELLO reply) and the
    timing used for timeouts; ``latency_s`` is added to every timeout (USB-serial latency).
    """

    def __init__(self, transport, spec: LinkSpec, *, retries: int = 16, latency_s: float = 0.0,
                 check: bool = True):
        self.t, self.spec = transport, spec
        self.retries, self.latency_s = retries, latency_s
        self.seq = 0
        self.stats = LinkStats()
        self.caps: Capabilities | None = None
        if check:
            self.hello()

    # -- frame exchange -------------------------------------------------------------
    def _timeout(self, out_bytes: int, in_bytes: int, cycles: int) -> float:
        s = self.spec
        byte_s = 10 / s.baud
        return (2 * ((out_bytes + in_bytes + 16) * byte_s + cycles / s.clk_hz)
                + 2 * s.idle_clks / s.clk_hz + self.latency_s)

    def _read_reply(self, timeout: float, budget: "_ReadBudget"):
        """One reply frame -> (seq, type, payload), or raises LinkTimeout / ValueError.
        ``budget`` bounds what one attempt may read (bytes, and wall-clock time on a real
        port), so noise without a sync byte or an endless stream ends in a timeout."""

        def read(n):
            data = self.t.read(n, budget.left(timeout))
            budget.take(len(data))
            return data

        while True:
            b = read(1)
            if not b:
                raise LinkTimeout("no reply")
            self.stats.bytes_in += 1
            if b[0] == RSP_SYNC:
                break
        hdr = read(4)
        if len(hdr) < 4:
            raise LinkTimeout("truncated reply header")
        seq, typ, n = hdr[0], hdr[1], struct.unpack("<H", hdr[2:4])[0]
        if n > self.spec.tx_max:
            raise ValueError(f"reply length {n} exceeds the reply buffer")
        rest = read(n + 4)
        self.stats.bytes_in += 4 + len(rest)
        if len(rest) < n + 4:
            raise LinkTimeout("truncated reply")
        if crc32(hdr + rest[:n]) != struct.unpack("<I", rest[n:])[0]:
            self.stats.crc_errors += 1
            raise ValueError("reply CRC error")
        return seq, typ, rest[:n]

    def transact(self, typ: int, payload: bytes = b"", *, expect_len: int | None = None,
                 cycles: int = 0) -> bytes:
        """Send one request, return the reply payload (exactly once semantics)."""
        frame = request_frame(self.seq, typ, payload)
        rsp_len = expect_len if expect_len is not None else self.spec.tx_max
        timeout = self._timeout(len(frame), rsp_len + 9, cycles)
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
                self.t.flush_input()
            self.t.write(frame)
            self.stats.bytes_out += len(frame)
            # one attempt reads at most a few replies' worth (stale duplicates of earlier
            # attempts, then ours) and, on a real port, waits at most 4 timeouts in all
            budget = _ReadBudget((attempt + 2) * (self.spec.tx_max + 9) + 64,
                                 4 * timeout if getattr(self.t, "real_time", False) else None)
            while True:
                try:
                    seq, rtyp, data = self._read_reply(timeout, budget)
                except LinkTimeout:
                    self.stats.timeouts += 1
                    break
                except ValueError:
                    break
                if seq != self.seq:
                    self.stats.stale += 1
                    continue            # an old duplicate: keep listening
                if rtyp == NAK:
                    self.stats.naks += 1
                    break
                if rtyp == BAD:
                    self.seq = (self.seq + 1) & 0xFF    # the board used this number
                    raise LinkError(f"board rejected frame type {typ:#04x} "
                                    f"({len(payload)} payload bytes)")
                if rtyp == REJECT and len(data) == 2:
                    self.seq = (self.seq + 1) & 0xFF
                    why = Reject(data[1]).name if data[1] in Reject._value2member_map_ else data[1]
                    raise LinkError(f"board rejected command {data[0]} of the frame ({why}); "
                                    f"none of the frame's commands ran")
                if rtyp != (typ | 0x80) or (expect_len is not None and len(data) != expect_len):
                    break               # damaged in a CRC-preserving way: impossible, retry
                self.seq = (self.seq + 1) & 0xFF
                self.stats.frames += 1
                return data
        raise LinkError(f"no valid reply after {self.retries + 1} attempts "
                        f"(timeouts {self.stats.timeouts}, CRC errors {self.stats.crc_errors}, "
                        f"NAKs {self.stats.naks}); is the board connected and programmed?")

    # -- requests -----------------------------------------------------------------------
    def hello(self) -> Capabilities:
        caps = Capabilities.parse(self.transact(HELLO, expect_len=struct.calcsize(HELLO_FMT)))
        s, c = self.spec, self.spec.config
        want = Capabilities.parse(s.hello_payload())
        if caps.version != VERSION:
            raise LinkError(f"board speaks link version {caps.version}, host {VERSION}")
        diffs = [f"{k}: board {getattr(caps, k)!r}, host {getattr(want, k)!r}"
                 for k in ("device", "rows", "cols", "lanes", "state_width", "resp_width",
                           "arg_width", "x_width", "config_crc")
                 if getattr(caps, k) != getattr(want, k)]
        if diffs:
            raise LinkError("the board runs a different design (" + "; ".join(diffs) +
                            f"); rebuild with: synemu build --device {c.device.name} "
                            f"--rows {c.rows} --cols {c.cols} --lanes {c.lanes}")
        self.caps = caps
        return caps

    def counters(self) -> Counters:
        return Counters.parse(self.transact(COUNTERS, expect_len=struct.calcsize(COUNTERS_FMT)))

    def run(self, cmds, n_resps) -> list[list[int]]:
        """Execute encoded commands in as few frames as fit; responses per command."""
        s = self.spec
        out: list[list[int]] = []
        i = 0
        cmds = list(cmds)
        while i < len(cmds):
            j, nr, cyc = i, 0, 0
            while (j < len(cmds) and j - i < s.cmds_per_frame
                   and (nr + n_resps[j]) * s.resp_bytes <= s.tx_max):
                nr += n_resps[j]
                cyc += cycles_of(s.config, cmds[j].op)
                j += 1
            if j == i:
                raise ValueError(f"command {cmds[i]} produces more responses than the board's "
                                 f"{s.tx_max}-byte reply buffer")
            payload = b"".join(pack_command(s, c) for c in cmds[i:j])
            data = self.transact(CMDS, payload, expect_len=nr * s.resp_bytes, cycles=cyc)
            words = [int.from_bytes(data[k:k + s.resp_bytes], "little")
                     for k in range(0, len(data), s.resp_bytes)]
            for k in range(i, j):
                out.append(words[:n_resps[k]])
                words = words[n_resps[k]:]
            i = j
        return out


def _signed_args(config: EngineConfig, cmd: Command) -> Command:
    """Wire command (unsigned ``arg`` field) -> the signed form GoldenEngine.execute takes,
    reading the low bits of ``arg`` as the hardware does."""
    op = Op(cmd.op)
    dev = config.device
    arg = cmd.arg
    if op in (Op.UPDATE, Op.UPD_ROW, Op.UPD_COL, Op.HEBB_ROW):
        arg = int(dev.pulse_fmt.from_bits(arg & ((1 << dev.pulse_width) - 1)))
    elif op is Op.LOAD_X:
        arg = int(config.x_fmt.from_bits(arg & ((1 << config.x_width) - 1)))
    return Command(op, cmd.row, cmd.col, arg)


# -- board model ---------------------------------------------------------------------------
class BoardModel:
    """Byte-exact model of the board side (:class:`synemu.gateware.link.LinkTop`):
    ``feed(bytes)`` -> reply bytes; ``idle()`` models the receiver's idle timeout."""

    def __init__(self, spec: LinkSpec):
        self.spec = spec
        self.engine = GoldenEngine(spec.config)
        self.hello = spec.hello_payload()
        self.last_seq: int | None = None
        self.reply = b""
        self.rtype = 0
        self.cnt = dict(cycles=0, busy=0, frames=0, crc_errors=0, replays=0, commands=0)
        self._reset_rx()

    def _reset_rx(self):
        self.state, self.buf = "hunt", bytearray()

    def idle(self):
        self._reset_rx()

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            if self.state == "hunt":
                if b == REQ_SYNC:
                    self.state, self.buf = "body", bytearray()
                continue
            self.buf.append(b)
            if len(self.buf) >= 3 and len(self.buf) == 3 + self.buf[2] + 4:
                out += self._frame(bytes(self.buf))
                self._reset_rx()
        return bytes(out)

    def _frame(self, f: bytes) -> bytes:
        seq, typ, n = f[0], f[1], f[2]
        body, crc = f[:3 + n], struct.unpack("<I", f[3 + n:])[0]
        if crc32(body) != crc:
            self.cnt["crc_errors"] += 1
            return reply_frame(seq, NAK)
        if typ != HELLO and self.last_seq == seq:
            self.cnt["replays"] += 1
            return reply_frame(seq, self.rtype, self.reply)
        self.cnt["frames"] += 1
        payload = f[3:3 + n]
        s = self.spec
        if typ == HELLO:
            rtype, reply = HELLO | 0x80, self.hello
        elif typ == COUNTERS:
            e = self.engine
            rtype, reply = COUNTERS | 0x80, struct.pack(
                COUNTERS_FMT, e.time, e.samples, self.cnt["cycles"], self.cnt["busy"],
                self.cnt["frames"], self.cnt["crc_errors"], self.cnt["replays"],
                self.cnt["commands"])
        elif typ == CMDS and n % s.cmd_bytes == 0:
            wire = [unpack_command(s, payload[k:k + s.cmd_bytes]) for k in range(0, n, s.cmd_bytes)]
            bad = next(((i, r) for i, c in enumerate(wire) if (r := reject_reason(s.config, c))),
                       None)
            if bad is not None:       # validate the whole frame before executing any of it
                rtype, reply = REJECT, bytes(bad)
            else:
                words = []
                for c in wire:
                    words += self.engine.execute(_signed_args(s.config, c))
                    self.cnt["commands"] += 1
                rtype = CMDS | 0x80
                reply = b"".join(w.to_bytes(s.resp_bytes, "little") for w in words)[:s.tx_max]
        else:
            rtype, reply = BAD, b""
        self.last_seq, self.rtype, self.reply = seq, rtype, reply
        return reply_frame(seq, rtype, reply)


class ModelTransport:
    """Transport to a :class:`BoardModel` (pure Python; for protocol tests)."""

    real_time = False

    def __init__(self, model: BoardModel):
        self.model, self.rx = model, bytearray()

    def write(self, data: bytes):
        self.rx += self.model.feed(data)

    def read(self, n: int, timeout: float) -> bytes:
        if len(self.rx) < n:
            self.model.idle()       # the host waits: the board's idle timeout fires
        out, self.rx = bytes(self.rx[:n]), self.rx[n:]
        return out

    def flush_input(self):
        self.rx.clear()

    def close(self):
        pass


def random_wire_command(spec: LinkSpec, rng) -> bytes:
    """A random packed command for fuzzing (``rng``: a NumPy Generator): every op code
    including undefined ones, any row/column the fields can hold, and arguments near the
    limits of :func:`arg_limits` (word widths, labels) as often as anywhere else."""
    c = spec.config
    op = int(rng.choice([*range(1, 12)] * 3 + [0, 12, 13, 15]))
    row = int(rng.integers(0, 1 << c.row_width))
    col = int(rng.integers(0, 1 << c.col_width))
    arg = int(rng.choice([rng.integers(0, 64), rng.integers(0, 1 << c.arg_width),
                          (1 << c.device.state_width) + int(rng.integers(-2, 2)) % 4,
                          c.rows + int(rng.integers(-1, 2))])) & ((1 << c.arg_width) - 1)
    v = op | row << OP_WIDTH | col << (OP_WIDTH + c.row_width) | arg << (
        OP_WIDTH + c.row_width + c.col_width)
    return v.to_bytes(spec.cmd_bytes, "little")


class FaultInjector:
    """Wraps a transport and damages bytes in both directions at ``rate`` per byte:
    bit flips, drops and duplicated bytes; plus whole-frame duplicates at ``frame_rate``.
    ``counts`` records what was injected."""

    def __init__(self, inner, rate: float = 0.002, frame_rate: float = 0.01, seed: int = 0):
        self.inner, self.rate, self.frame_rate = inner, rate, frame_rate
        self.rng = np.random.default_rng(seed)
        self.counts = dict(flip=0, drop=0, dup=0, frame_dup=0, damaged_writes=0,
                           damaged_reads=0)
        self.real_time = getattr(inner, "real_time", False)

    def _damage(self, data: bytes) -> bytes:
        if not data:
            return data
        r = self.rng.random(len(data))
        if not (r < self.rate).any():
            return data
        out = bytearray()
        kinds = self.rng.integers(0, 3, len(data))
        for b, x, k in zip(data, r, kinds):
            if x >= self.rate:
                out.append(b)
            elif k == 0:
                out.append(b ^ int(self.rng.integers(1, 256)))
                self.counts["flip"] += 1
            elif k == 1:
                self.counts["drop"] += 1
            else:
                out += bytes([b, b])
                self.counts["dup"] += 1
        return bytes(out)

    def write(self, data: bytes):
        bad = self._damage(data)
        self.counts["damaged_writes"] += bad != data
        if self.rng.random() < self.frame_rate:
            self.counts["frame_dup"] += 1
            bad = bad + bad
        self.inner.write(bad)

    def read(self, n: int, timeout: float) -> bytes:
        data = self.inner.read(n, timeout)
        bad = self._damage(data)
        self.counts["damaged_reads"] += bad != data
        return bad[:n]

    def flush_input(self):
        self.inner.flush_input()

    def close(self):
        self.inner.close()


class SerialTransport:
    """Transport over pyserial (a real board)."""

    real_time = True

    def __init__(self, port: str, baud: int):
        try:
            import serial
        except ImportError:  # pragma: no cover
            raise LinkError("pyserial is not installed: pip install pyserial") from None
        try:
            self.ser = serial.Serial(port, baudrate=baud, timeout=0.5)
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"cannot open serial port {port}: {e}") from None

    def write(self, data: bytes):
        self.ser.write(data)

    def read(self, n: int, timeout: float) -> bytes:
        self.ser.timeout = max(timeout, 0.01)
        return self.ser.read(n)

    def flush_input(self):
        self.ser.reset_input_buffer()

    def close(self):
        self.ser.close()
