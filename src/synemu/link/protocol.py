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

import collections
import enum
import functools
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..spec.engine import (COL_OPS, OP_WIDTH, PULSE_OPS, ROW_OPS, Command, EngineConfig,
                           GoldenEngine, Op)
from ..spec.sequencer import JOB_FMT, STATUS_FMT, GoldenSequencer, SeqJob, SeqStatus

__all__ = ["REQ_SYNC", "RSP_SYNC", "HELLO", "CMDS", "COUNTERS", "NAK", "BAD", "REJECT", "Reject",
           "reject_reason", "arg_limits", "random_wire_command", "VERSION",
           "LinkSpec", "Capabilities", "Counters", "LinkError", "LinkTimeout",
           "crc32", "request_frame", "reply_frame", "pack_command", "unpack_command",
           "LinkHost", "BoardModel", "ModelTransport", "FaultInjector", "config_crc",
           "cycles_of"]

REQ_SYNC, RSP_SYNC = 0xA5, 0x5A
HELLO, CMDS, COUNTERS = 0x01, 0x02, 0x03
SMEM_WRITE, SMEM_READ, SEQ_RUN, SEQ_STATUS = 0x04, 0x05, 0x06, 0x07
NAK, BAD, REJECT, OLD, BUSY = 0xEE, 0xEF, 0xED, 0xEC, 0xEB
#: frame types whose reply carries no data of their own (a status block or nothing): the
#: host may keep several in flight (a window); their acknowledgements are cumulative
WINDOWED = frozenset((SMEM_WRITE, SEQ_RUN))
VERSION = 3                # 3: sample memory + sequencer, in-order acceptance, OLD/BUSY
MAGIC = b"SYNE"
MAX_PAYLOAD = 255          # request payload bytes (one length byte)
#: bytes the board's receive FIFO queues; a windowed send keeps at most this many request
#: bytes unanswered, so a board busy replying or executing never drops a byte
RX_QUEUE = 2048
HELLO_FMT = "<4sBBBBHHHBBBBBBHHIIII8s"
COUNTERS_FMT = "<QQQQIIII"
SMEM_GUARDS = ("ranges", "jobs")    #: values of :attr:`LinkSpec.smem_guard`


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
    SMEM = 7      #: sample-memory address range outside the memory (or no memory)
    JOB = 8       #: sequencer job invalid (flags, count, extents, ticks or LFSR seed)
    LENGTH = 9    #: payload length wrong for the frame type


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
    smem_words: int = 0        #: sample-memory words (a power of two >= 16; 0: none)
    #: when SMEM_WRITE / SMEM_READ frames are BUSY: ``"ranges"``, while they touch a word
    #: range of the running or queued job (exact overlap checks); ``"jobs"``, a write while
    #: any job runs or is queued, a read while it touches a job's prediction range (a third
    #: of the comparators: the iCE40UP5K's logic budget; stream mode then refills its rings
    #: only between jobs)
    smem_guard: str = "ranges"

    def __post_init__(self):
        if self.smem_guard not in SMEM_GUARDS:
            raise ValueError(f"smem_guard must be one of {', '.join(SMEM_GUARDS)}, "
                             f"not {self.smem_guard!r}")
        w = self.smem_words
        if not isinstance(w, int) or not (w == 0 or (16 <= w <= 1 << 24 and not w & (w - 1))):
            raise ValueError(f"smem_words must be 0 or a power of two in 16..2**24, not {w!r}")
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
                   self.config.rows * self.resp_bytes, 256 if self.smem_words else 0)
        return 1 << (need - 1).bit_length()

    @property
    def baud(self) -> float:
        return self.clk_hz / self.divisor

    # -- what depends on the core (overridden by a spec of another link core) --------------
    def pack(self, cmd) -> bytes:
        """A host command as its ``cmd_bytes`` wire bytes (ValueError if the board would
        reject it)."""
        return pack_command(self, cmd)

    def command_cycles(self, cmd) -> int:
        """Upper bound of core clocks for ``cmd`` (host timeouts)."""
        return cycles_of(self.config, cmd.op)

    def rebuild_hint(self) -> str:
        c = self.config
        return (f"synemu build --device {c.device.name} --rows {c.rows} --cols {c.cols} "
                f"--lanes {c.lanes}")

    def hello_payload(self) -> bytes:
        c = self.config
        name = c.device.name.encode()[:8].ljust(8, b"\0")
        return struct.pack(HELLO_FMT, MAGIC, VERSION, self.cmd_bytes, self.resp_bytes,
                           c.device.state_width, c.rows, c.cols, c.lanes, c.resp_width,
                           c.arg_width, c.x_width, c.time_width, c.sample_width,
                           self.smem_words.bit_length() - 1 if self.smem_words else 0,
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
    smem_words: int = 0

    @classmethod
    def parse(cls, payload: bytes) -> "Capabilities":
        if len(payload) != struct.calcsize(HELLO_FMT):
            raise LinkError(f"HELLO reply of {len(payload)} bytes, expected "
                            f"{struct.calcsize(HELLO_FMT)}")
        f = struct.unpack(HELLO_FMT, payload)
        if f[0] != MAGIC:
            raise LinkError(f"not a synemu board (magic {f[0]!r})")
        return cls(*f[1:13], *f[14:20], f[20].rstrip(b"\0").decode(errors="replace"),
                   1 << f[13] if f[13] else 0)


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
    busy: int = 0          #: BUSY replies (frame not executed yet, sent again)
    go_backs: int = 0      #: windowed sends restarted from the first unacknowledged frame
    bytes_resent: int = 0  #: of ``bytes_out``: windowed frames written again after a go-back


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
                 check: bool = True, busy_retries: int = 1_000_000):
        self.t, self.spec = transport, spec
        self.retries, self.latency_s = retries, latency_s
        self.busy_retries = busy_retries
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
        attempt = 0
        while attempt <= self.retries:
            if attempt:
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
                if rtyp == BUSY:
                    # not executed: sequencer jobs hold what it needs (wait for them with
                    # seq_wait first); an attempt like any other
                    self.stats.busy += 1
                    break
                if rtyp == OLD:
                    raise LinkError(f"board reports frame {seq} as executed long ago: the "
                                    "host and board sequence numbers disagree")
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
            attempt += 1
            if attempt <= self.retries:
                self.stats.retries += 1
        raise LinkError(f"no valid reply after {self.retries + 1} attempts "
                        f"(timeouts {self.stats.timeouts}, CRC errors {self.stats.crc_errors}, "
                        f"NAKs {self.stats.naks}); is the board connected and programmed?")

    # -- requests -----------------------------------------------------------------------
    def hello(self) -> Capabilities:
        caps = Capabilities.parse(self.transact(HELLO, expect_len=struct.calcsize(HELLO_FMT)))
        s = self.spec
        want = Capabilities.parse(s.hello_payload())
        if caps.version != VERSION:
            raise LinkError(f"board speaks link version {caps.version}, host {VERSION}")
        diffs = [f"{k}: board {getattr(caps, k)!r}, host {getattr(want, k)!r}"
                 for k in ("device", "rows", "cols", "lanes", "state_width", "resp_width",
                           "arg_width", "x_width", "config_crc")
                 if getattr(caps, k) != getattr(want, k)]
        if diffs:
            raise LinkError("the board runs a different design (" + "; ".join(diffs) +
                            f"); rebuild with: {s.rebuild_hint()}")
        if s.smem_words and caps.smem_words != s.smem_words:
            raise LinkError(
                f"the board's design has {'no' if not caps.smem_words else caps.smem_words} "
                f"sample-memory words, the host expects {s.smem_words}: "
                + ("it was built without the sequencer (--host-only); use --mode host or "
                   "rebuild with synemu build --sequencer" if not caps.smem_words else
                   "rebuild the bitstream for this board"))
        self.caps = caps
        return caps

    def counters(self) -> Counters:
        return Counters.parse(self.transact(COUNTERS, expect_len=struct.calcsize(COUNTERS_FMT)))

    def run(self, cmds, n_resps) -> list[list[int]]:
        """Execute commands (as ``spec.pack`` takes them) in as few frames as fit;
        responses per command."""
        s = self.spec
        out: list[list[int]] = []
        i = 0
        cmds = list(cmds)
        while i < len(cmds):
            j, nr, cyc = i, 0, 0
            while (j < len(cmds) and j - i < s.cmds_per_frame
                   and (nr + n_resps[j]) * s.resp_bytes <= s.tx_max):
                nr += n_resps[j]
                cyc += s.command_cycles(cmds[j])
                j += 1
            if j == i:
                raise ValueError(f"command {cmds[i]} produces more responses than the board's "
                                 f"{s.tx_max}-byte reply buffer")
            payload = b"".join(s.pack(c) for c in cmds[i:j])
            data = self.transact(CMDS, payload, expect_len=nr * s.resp_bytes, cycles=cyc)
            words = [int.from_bytes(data[k:k + s.resp_bytes], "little")
                     for k in range(0, len(data), s.resp_bytes)]
            for k in range(i, j):
                out.append(words[:n_resps[k]])
                words = words[n_resps[k]:]
            i = j
        return out

    # -- windowed sending (frames whose replies carry only a status) -------------------------
    def send_window(self, frames, window: int = 8, replies: list | None = None) -> bytes | None:
        """Send ``frames`` ((type, payload) pairs, types in :data:`WINDOWED`) with up to
        ``window`` in flight; returns the last reply payload (a status block).

        With a ``replies`` list, SMEM_READ frames may be in the window too (a read is
        idempotent): ``replies`` gets one entry per frame, its reply payload, or None when
        the frame ran but its reply was lost (acknowledged by a later frame, or OLD): read
        those words again while nothing can have overwritten them.

        The board executes frames strictly in sequence order, so an acknowledgement is
        cumulative: the reply to frame k (or OLD: executed earlier, its reply lost) means
        every frame up to k ran. NAK (damaged, or ahead of a lost frame), BUSY (not
        executable yet), a damaged reply or a timeout send again from the first frame not
        acknowledged (frames already executed are never sent again, only those lost or
        refused). A REJECT raises LinkError (the frame and those after it: see the message).
        """
        if not 1 <= window <= 64:
            raise ValueError(f"window must be 1..64 frames, not {window}")
        frames = list(frames)
        for typ, payload in frames:
            if typ not in WINDOWED and not (typ == SMEM_READ and replies is not None):
                raise ValueError(f"frame type {typ:#04x} cannot be windowed (its reply carries "
                                 "data): use transact")
        seq0, n = self.seq, len(frames)
        wire = [request_frame((seq0 + i) & 0xFF, t, p) for i, (t, p) in enumerate(frames)]
        in_bytes = max(struct.calcsize(STATUS_FMT),
                       max((2 * p[3] for t, p in frames if t == SMEM_READ), default=0)) + 9
        got = [None] * n
        base = nxt = 0
        last = None
        stalls = busy = 0
        went_back = False
        probe = False     # the first frame was BUSY again after a go-back: send it alone
        # frames written and not yet answered, in the order the board consumes them:
        # (sequence number, bytes); their bytes may all sit in the board's receive FIFO
        unanswered: collections.deque = collections.deque()
        queued = sent = 0
        real = getattr(self.t, "real_time", False)
        while base < n:
            while (nxt < n and nxt - base < (1 if probe else window)
                   and (not unanswered or queued + len(wire[nxt]) <= RX_QUEUE)):
                self.t.write(wire[nxt])
                self.stats.bytes_out += len(wire[nxt])
                if nxt < sent:
                    self.stats.bytes_resent += len(wire[nxt])
                sent = max(sent, nxt + 1)
                unanswered.append(((seq0 + nxt) & 0xFF, len(wire[nxt])))
                queued += len(wire[nxt])
                nxt += 1
            timeout = self._timeout(queued, in_bytes * len(unanswered), 0)
            budget = _ReadBudget((nxt - base + 2) * (self.spec.tx_max + 9) + 64,
                                 4 * timeout if real else None)
            try:
                rseq, rtyp, data = self._read_reply(timeout, budget)
            except (LinkTimeout, ValueError) as e:
                self.stats.timeouts += 1
                stalls += 1
                if stalls > self.retries:
                    self.seq = (seq0 + base) & 0xFF
                    raise LinkError(f"windowed send: no progress after {stalls} timeouts "
                                    f"({base} of {n} frames acknowledged)") from None
                self.stats.go_backs += 1
                self.t.flush_input()
                nxt, went_back, probe = base, False, False
                if isinstance(e, LinkTimeout):   # silence: nothing is left to answer
                    unanswered.clear()
                    queued = 0
                continue
            # a reply answers the oldest unanswered frame of its number and shows that
            # every frame written before it was consumed (answered, or lost to damage)
            if any(q == rseq for q, _ in unanswered):
                while True:
                    q, size = unanswered.popleft()
                    queued -= size
                    if q == rseq:
                        break
            k = base + ((rseq - seq0 - base) & 0xFF)      # index of the frame replied to
            if not base <= k < nxt:
                self.stats.stale += 1
                continue
            if rtyp in (REJECT, BAD):
                self.seq = (seq0 + k + 1) & 0xFF
                why = (Reject(data[1]).name if rtyp == REJECT and len(data) == 2
                       and data[1] in Reject._value2member_map_ else f"{rtyp:#04x}")
                raise LinkError(f"board rejected windowed frame {k} ({why}); frames before it "
                                f"ran, frames after it in flight may have run")
            if rtyp in (NAK, BUSY):
                if rtyp == BUSY:
                    self.stats.busy += 1
                    busy += 1
                    if busy > self.busy_retries:
                        raise LinkError("board busy: a sequencer job does not finish?")
                else:
                    self.stats.naks += 1
                if k == base:
                    # the board answers each frame it receives once: a second NAK/BUSY of
                    # the first frame after a go-back answers the frame sent again, so go
                    # back again at once (not after a timeout); while it is BUSY (a job
                    # still running) it travels alone, not with the window behind it
                    # (a duplicated frame can make this an extra, harmless go-back)
                    probe = went_back and rtyp == BUSY
                    self.stats.go_backs += 1
                    nxt, went_back = base, True
                continue
            if rtyp == OLD or rtyp == (frames[k][0] | 0x80):
                if (rtyp != OLD and frames[k][0] == SMEM_READ
                        and len(data) != 2 * frames[k][1][3]):
                    continue               # impossible with a good CRC; resent on timeout
                base, stalls, went_back, probe = k + 1, 0, False, False
                self.stats.frames += 1
                if rtyp != OLD:
                    last = got[k] = data
        self.seq = (seq0 + n) & 0xFF
        if replies is not None:
            replies[:] = got
        return last

    # -- sample memory and sequencer ----------------------------------------------------------
    def _need_smem(self) -> int:
        w = self.spec.smem_words
        if not w:
            raise LinkError("this design has no sample memory (LinkSpec.smem_words = 0)")
        return w

    def smem_frames(self, addr: int, words) -> list:
        """SMEM_WRITE frames storing ``words`` (uint16) from word ``addr``."""
        w = self._need_smem()
        words = np.asarray(words, dtype="<u2")
        if addr < 0 or addr + len(words) > w:
            raise ValueError(f"sample memory write of {len(words)} words at {addr} exceeds "
                             f"the board's {w} words")
        per = (MAX_PAYLOAD - 3) // 2
        return [(SMEM_WRITE, (addr + i).to_bytes(3, "little") + words[i:i + per].tobytes())
                for i in range(0, len(words), per)]

    def smem_write(self, addr: int, words, window: int = 8) -> None:
        self.send_window(self.smem_frames(addr, words), window)

    def smem_read_frames(self, addr: int, n: int) -> list:
        """SMEM_READ frames of words ``addr .. addr + n - 1`` (each at most ``tx_max / 2``;
        for :meth:`send_window` with ``replies``)."""
        w = self._need_smem()
        if addr < 0 or addr + n > w:
            raise ValueError(f"sample memory read of {n} words at {addr} exceeds {w} words")
        per = min(255, self.spec.tx_max // 2)
        return [(SMEM_READ, (addr + i).to_bytes(3, "little") + bytes([min(per, n - i)]))
                for i in range(0, n, per)]

    def smem_read(self, addr: int, n: int) -> np.ndarray:
        out = [np.frombuffer(self.transact(SMEM_READ, p, expect_len=2 * p[3]), dtype="<u2")
               for _, p in self.smem_read_frames(addr, n)]
        return np.concatenate(out) if out else np.zeros(0, np.uint16)

    def seq_frame(self, job: SeqJob):
        """The SEQ_RUN frame of ``job`` (validated here: ValueError names the field)."""
        job.validate(self.spec.config, self._need_smem())
        return (SEQ_RUN, job.pack())

    def seq_run(self, job: SeqJob) -> SeqStatus:
        return SeqStatus.parse(self.send_window([self.seq_frame(job)], 1))

    def seq_status(self) -> SeqStatus:
        self._need_smem()
        return SeqStatus.parse(self.transact(SEQ_STATUS, expect_len=struct.calcsize(STATUS_FMT)))

    def seq_wait(self, jobs: int, poll=None) -> SeqStatus:
        """Poll SEQ_STATUS until ``jobs`` jobs have finished; ``poll(status)`` is called
        after each poll (progress)."""
        while True:
            st = self.seq_status()
            if poll is not None:
                poll(st)
            if st.jobs >= jobs and not st.running:
                return st
            if getattr(self.t, "real_time", False):
                import time
                time.sleep(0.002)


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
        self.hello = spec.hello_payload()
        self.last_seq: int | None = None
        self.reply = b""
        self.rtype = 0
        self.cnt = dict(cycles=0, busy=0, frames=0, crc_errors=0, replays=0, commands=0)
        self._make_core()
        self._reset_rx()

    # -- what depends on the core (overridden by the model of another link core) ----------
    job_type = SeqJob          #: the SEQ_RUN payload's class (parse, validate)

    def _make_core(self):
        self.engine = GoldenEngine(self.spec.config)
        self.sequencer = (GoldenSequencer(self.engine, self.spec.smem_words)
                          if self.spec.smem_words else None)

    def _time_samples(self) -> tuple[int, int]:
        """The first two fields of the COUNTERS block."""
        return self.engine.time, self.engine.samples

    def _reject(self, wire) -> int:
        return reject_reason(self.spec.config, wire)

    def _execute(self, wire) -> list[int]:
        """Run one validated wire command (as :meth:`_unpack` gives it); its responses."""
        return self.engine.execute(_signed_args(self.spec.config, wire))

    def _unpack(self, data: bytes):
        return unpack_command(self.spec, data)

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
        if typ != HELLO and self.last_seq is not None:
            if self.last_seq == seq:
                self.cnt["replays"] += 1
                return reply_frame(seq, self.rtype, self.reply)
            diff = (seq - self.last_seq) & 0xFF
            if diff != 1:          # an old duplicate, or ahead of a lost frame
                return reply_frame(seq, OLD if diff >= 128 else NAK)
        self.cnt["frames"] += 1
        payload = f[3:3 + n]
        s = self.spec
        seqr = self.sequencer
        if typ == HELLO:
            rtype, reply = HELLO | 0x80, self.hello
        elif typ == COUNTERS:
            rtype, reply = COUNTERS | 0x80, struct.pack(
                COUNTERS_FMT, *self._time_samples(), self.cnt["cycles"], self.cnt["busy"],
                self.cnt["frames"], self.cnt["crc_errors"], self.cnt["replays"],
                self.cnt["commands"])
        elif typ == CMDS and n % s.cmd_bytes == 0:
            wire = [self._unpack(payload[k:k + s.cmd_bytes]) for k in range(0, n, s.cmd_bytes)]
            bad = next(((i, r) for i, c in enumerate(wire) if (r := self._reject(c))), None)
            if bad is not None:       # validate the whole frame before executing any of it
                rtype, reply = REJECT, bytes(bad)
            else:
                words = []
                for c in wire:
                    words += self._execute(c)
                    self.cnt["commands"] += 1
                rtype = CMDS | 0x80
                reply = b"".join(w.to_bytes(s.resp_bytes, "little") for w in words)[:s.tx_max]
        elif seqr is not None and typ in (SEQ_STATUS, SEQ_RUN, SMEM_WRITE, SMEM_READ):
            rtype, reply = self._seq_frame(typ, payload)
        else:
            rtype, reply = BAD, b""
        self.last_seq, self.rtype, self.reply = seq, rtype, reply
        return reply_frame(seq, rtype, reply)

    def status(self) -> bytes:
        """The status block (jobs finish at once here: nothing runs, every slot free)."""
        q = self.sequencer
        return SeqStatus(q.jobs, q.samples, q.correct, q.queued, q.errors,
                         0, 0, 0, 0, 0, 1).pack()

    def _seq_frame(self, typ: int, payload: bytes):
        q, n, words = self.sequencer, len(payload), self.spec.smem_words
        if typ == SEQ_STATUS:
            if n:
                return REJECT, bytes([0, Reject.LENGTH])
        elif typ == SEQ_RUN:
            if n != struct.calcsize(JOB_FMT):
                return REJECT, bytes([0, Reject.LENGTH])
            job = self.job_type.parse(payload)
            try:
                q.accept(job)
            except ValueError:
                return REJECT, bytes([0, Reject.JOB])
            q.run(job)
        elif typ == SMEM_WRITE:
            if n < 5 or not n & 1:
                return REJECT, bytes([0, Reject.LENGTH])
            addr = int.from_bytes(payload[:3], "little")
            if addr + (n - 3) // 2 > words:
                return REJECT, bytes([0, Reject.SMEM])
            q.write(addr, np.frombuffer(payload[3:], dtype="<u2"))
        else:   # SMEM_READ
            if n != 4:
                return REJECT, bytes([0, Reject.LENGTH])
            addr, cnt = int.from_bytes(payload[:3], "little"), payload[3]
            if not cnt or cnt > self.spec.tx_max // 2 or addr + cnt > words:
                return REJECT, bytes([0, Reject.SMEM])
            return typ | 0x80, q.smem[addr:addr + cnt].astype("<u2").tobytes()
        return typ | 0x80, self.status()


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
