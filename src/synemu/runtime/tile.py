"""The user-facing synapse tile: one API, several backends giving identical numbers.

>>> from synemu.runtime.tile import Tile
>>> t = Tile("ideal", rows=10, cols=64, lanes=4, backend="golden")
>>> t.load_x(x); y = t.forward(); pred = t.learn(x, label)

Backends: ``golden`` (NumPy golden model), ``amaranth`` (Amaranth's Python simulator of the
hardware), ``verilator`` (the generated Verilog in Verilator, driven by the compiled C++ driver or
through cocotb); boards
add ``board``. Every backend executes the same command stream
(:class:`~synemu.spec.engine.Op`), so results are bit-identical by construction and by test.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from pathlib import Path

import numpy as np

from ..spec.registry import make_device
from ..spec.device import Device
from ..spec.engine import Command, EngineConfig, GoldenEngine, Op
from ..sim.lockstep import Snapshot, n_responses

__all__ = ["Tile", "BACKENDS", "GoldenBackend", "AmaranthBackend", "VerilatorBackend"]


class GoldenBackend:
    """Runs commands on :class:`~synemu.spec.engine.GoldenEngine`."""

    name = "golden"

    def __init__(self, config: EngineConfig):
        self.config = config
        self.engine = GoldenEngine(config)

    def run(self, cmds, n_resps=None):
        return [self.engine.execute(c) for c in cmds]

    def snapshot(self) -> Snapshot:
        e = self.engine
        return Snapshot(e.lane_words(), e.x.copy(), e.globals(), 0)

    def close(self):
        pass


class _SimThreadBackend:
    """Common part of simulator backends: a worker thread owns the simulation and serves
    command batches from a queue (Amaranth's simulator is driven by coroutines)."""

    def run(self, cmds, n_resps=None):
        wire = [self.config.encode(c) for c in cmds]
        n = n_resps or [n_responses(self.config, c.op) for c in wire]
        return self._call(wire, n, False)[0]

    def snapshot(self) -> Snapshot:
        return self._call([], [], True)[1]


class AmaranthBackend(_SimThreadBackend):
    """Runs the Amaranth-generated engine on Amaranth's Python simulator (slow, no build)."""

    name = "amaranth"

    def __init__(self, config: EngineConfig, *, force_size: bool = False):
        from ..sim.amaranth_sim import simulate
        from ..sim.limits import check_sim_size
        check_sim_size(config, "amaranth", force=force_size)
        self.config = config
        self._req: queue.Queue = queue.Queue()
        self._rep: queue.Queue = queue.Queue()

        async def body(drv):
            while True:
                item = self._req.get()
                if item is None:
                    return
                wire, n, snap = item
                try:
                    resps = [await drv.send(c, k) for c, k in zip(wire, n)]
                    self._rep.put(("ok", resps, await drv.snapshot() if snap else None))
                except Exception as e:  # pragma: no cover - reported to the caller
                    self._rep.put(("error", e, None))

        self._thread = threading.Thread(target=simulate, args=(config, body), daemon=True)
        self._thread.start()

    def _call(self, wire, n, snap):
        self._req.put((wire, n, snap))
        status, a, b = self._rep.get()
        if status != "ok":
            raise a
        return a, b

    def close(self):
        if self._thread.is_alive():
            self._req.put(None)
            self._thread.join(timeout=30)


class VerilatorBackend(_SimThreadBackend):
    """Runs the generated Verilog in Verilator (built once per design, cached on disk).

    ``driver``: ``"native"`` (default: the compiled C++ driver, :mod:`synemu.sim.native`)
    or ``"cocotb"`` (the cocotb testbench over a socket; same responses, cycles, states)."""

    name = "verilator"
    DRIVERS = ("native", "cocotb")

    def __init__(self, config: EngineConfig, *, waves: bool = False, driver: str = "native",
                 force_size: bool = False):
        from ..sim.limits import check_sim_size
        check_sim_size(config, "verilator", force=force_size)
        if driver not in self.DRIVERS:
            raise ValueError(f"unknown Verilator driver {driver!r}; use one of {self.DRIVERS}")
        self.config = config
        self.driver = driver
        if driver == "native":
            from ..sim.native_engine import NativeEngineSession
            self.session = NativeEngineSession(config, waves=waves)
            # whole-batch fast paths (no Python per command), used by Tile when present
            self.learn_batch = self.session.learn_batch
            self.forward_batch = self.session.forward_batch
        else:
            from ..sim.remote import VerilatorSession
            self.session = VerilatorSession(config, waves=waves)

    @property
    def cycle(self) -> int:
        """Clock cycles simulated so far."""
        return self.session.cycle

    def _call(self, wire, n, snap):
        return self.session.run(wire, n, snap)

    def close(self):
        self.session.close()


def _board_backend(config: EngineConfig, **kw):
    """A real or simulated board (:class:`synemu.boards.backend.BoardBackend`)."""
    from ..boards.backend import BoardBackend
    return BoardBackend(config, **kw)


BACKENDS = {"golden": GoldenBackend, "amaranth": AmaranthBackend, "verilator": VerilatorBackend,
            "board": _board_backend}


class Tile:
    """An R x C synapse array of one device behind a backend.

    ``device``: a :class:`~synemu.spec.device.Device` or a device name (then
    ``device_params`` are its parameters); ``rows``, ``cols``, ``lanes`` and ``engine``
    keyword arguments go to :class:`~synemu.spec.engine.EngineConfig`; ``backend_options``
    to the backend named by ``backend`` (e.g. ``{"driver": "cocotb"}`` for ``verilator``);
    ``force_size``: simulate an array above :data:`synemu.sim.limits.SIM_LIMITS`.
    """

    def __init__(self, device: Device | str = "ideal", rows: int = 8, cols: int = 8,
                 lanes: int = 1, *, backend: str = "golden", device_params: dict | None = None,
                 config: EngineConfig | None = None, backend_options: dict | None = None,
                 force_size: bool = False, **engine):
        if config is None:
            if isinstance(device, str):
                device = make_device(device, **(device_params or {}))
            config = EngineConfig(device=device, rows=rows, cols=cols, lanes=lanes, **engine)
        self.config = config
        if isinstance(backend, str):
            if backend not in BACKENDS:
                raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
            opts = dict(backend_options or {})
            if force_size and backend in ("amaranth", "verilator"):
                opts["force_size"] = True
            backend = BACKENDS[backend](config, **opts)
        elif backend_options:
            raise ValueError("backend_options need a backend name, not a backend object")
        self.backend = backend

    # -- life cycle ------------------------------------------------------------------
    def close(self):
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def device(self) -> Device:
        return self.config.device

    @property
    def shape(self) -> tuple[int, int]:
        return self.config.rows, self.config.cols

    # -- commands ----------------------------------------------------------------------
    def execute(self, cmds) -> list[list[int]]:
        """Run raw :class:`~synemu.spec.engine.Command` s; returns their responses."""
        return self.backend.run(list(cmds))

    def write(self, row: int, col: int, state: dict | int):
        word = state if isinstance(state, (int, np.integer)) else int(self.device.pack(
            {k: np.asarray(v) for k, v in state.items()}))
        self.execute([Command(Op.WRITE, row, col, int(word))])

    def read(self, row: int, col: int) -> dict:
        word = self.execute([Command(Op.READ, row, col)])[0][0]
        return {k: int(v) for k, v in self.device.unpack(np.uint64(word)).items()}

    def update(self, row: int, col: int, pulse: int):
        self.execute([Command(Op.UPDATE, row, col, int(pulse))])

    def update_row(self, row: int, pulse: int):
        self.execute([Command(Op.UPD_ROW, row, 0, int(pulse))])

    def update_col(self, col: int, pulse: int):
        self.execute([Command(Op.UPD_COL, 0, col, int(pulse))])

    def update_matrix(self, pulses: np.ndarray):
        """UPDATE every synapse whose pulse is nonzero (row-major order)."""
        pulses = np.asarray(pulses)
        if pulses.shape != self.shape:
            raise ValueError(f"pulse matrix has shape {pulses.shape}, expected {self.shape}")
        self.device.pulse_fmt.check(pulses, "pulse")
        if isinstance(self.backend, GoldenBackend):
            self.backend.engine.update_matrix(pulses)
            return
        rows, cols = np.nonzero(pulses)
        self.execute([Command(Op.UPDATE, int(r), int(c), int(pulses[r, c]))
                      for r, c in zip(rows, cols)])

    def tick(self, n: int = 1):
        """Advance emulated time by ``n`` ticks (split into TICKs of at most 2**tick_width-1)."""
        if n < 0:
            raise ValueError(f"cannot tick by a negative count ({n})")
        step = (1 << self.config.tick_width) - 1
        cmds = []
        while n > 0:
            cmds.append(Command(Op.TICK, 0, 0, min(n, step)))
            n -= min(n, step)
        if cmds:
            self.execute(cmds)

    def _x_cmds(self, x) -> list[Command]:
        x = np.asarray(x)
        if x.shape != (self.config.cols,):
            raise ValueError(f"input vector has shape {x.shape}, expected ({self.config.cols},)")
        self.config.x_fmt.check(x, "input x")
        return [Command(Op.LOAD_X, 0, c, int(v)) for c, v in enumerate(x)]

    def load_x(self, x):
        self.execute(self._x_cmds(x))

    def forward(self, x=None) -> np.ndarray:
        """``y = W_infer @ x`` computed by the backend (loads ``x`` first if given)."""
        cmds = (self._x_cmds(x) if x is not None else []) + [Command(Op.FORWARD)]
        resp = self.execute(cmds)[-1]
        return self.config.acc_fmt.from_bits(np.array(resp, dtype=np.uint64))

    def learn(self, x, label: int) -> int:
        """One on-chip delta-rule step; returns the prediction made before the update."""
        resp = self.execute(self._x_cmds(x) + [Command(Op.LEARN, 0, 0, int(label))])
        return int(resp[-1][0])

    def learn_batch(self, xs, labels) -> np.ndarray:
        """LEARN each (x, label) in order in one backend call; returns the predictions."""
        if isinstance(self.backend, GoldenBackend):
            return self.backend.engine.learn_samples(xs, labels)
        fast = getattr(self.backend, "learn_batch", None)
        if fast is not None:
            return fast(xs, labels)
        cmds = []
        for x, label in zip(xs, labels):
            cmds += self._x_cmds(x) + [Command(Op.LEARN, 0, 0, int(label))]
        resp = self.execute(cmds)
        return np.array([r[0] for r in resp if r], dtype=np.int64)

    def predict(self, xs) -> np.ndarray:
        """Argmax of FORWARD for each input row of ``xs`` (inference weights)."""
        if isinstance(self.backend, GoldenBackend):
            xs = np.asarray(xs)
            self.config.x_fmt.check(xs, "input x")
            y = xs.astype(np.int64) @ self.weights(inference=True).T.astype(np.int64)
            return np.argmax(y, axis=1)
        fast = getattr(self.backend, "forward_batch", None)
        if fast is not None:
            return np.argmax(fast(xs), axis=1)
        cmds = []
        for x in xs:
            cmds += self._x_cmds(x) + [Command(Op.FORWARD)]
        resp = [r for r in self.execute(cmds) if r]
        ys = self.config.acc_fmt.from_bits(np.array(resp, dtype=np.uint64))
        return np.argmax(ys, axis=1)

    # -- observation -------------------------------------------------------------------
    def state_words(self) -> np.ndarray:
        """Packed state of every synapse, shape (rows, cols), uint64."""
        snap = self.backend.snapshot()
        return np.asarray(snap.words, dtype=np.uint64).reshape(self.shape)

    def state(self) -> dict:
        return self.device.unpack(self.state_words())

    def weights(self, inference: bool = True) -> np.ndarray:
        """Signed weights (rows, cols): the inference or the training read-out."""
        snap = self.backend.snapshot()
        st = self.device.unpack(np.asarray(snap.words, dtype=np.uint64).reshape(self.shape))
        t = int(snap.globals["time"])
        return (self.device.infer_weight(st, time=t) if inference
                else self.device.train_weight(st, time=t))

    def globals(self) -> dict:
        return self.backend.snapshot().globals

    # -- persistence -------------------------------------------------------------------
    def save(self, path):
        """Save config, synapse words, inputs and global registers to ``path`` (.npz)."""
        snap = self.backend.snapshot()
        np.savez_compressed(path, config=json.dumps(self.config.to_dict()),
                            words=np.asarray(snap.words, dtype=np.uint64).reshape(self.shape),
                            x=np.asarray(snap.x, dtype=np.int64),
                            globals=json.dumps(snap.globals))

    def load(self, path, *, partial: bool = False):
        """Restore a tile saved by :meth:`save` (same config required).

        The whole file is read and checked (keys, shapes, every state word valid for the
        device, inputs in range) before the tile is touched. The golden backend restores
        everything: words, inputs, time, sample count, LFSR states. Hardware backends have
        no command to set time, samples or LFSRs: if the saved ones differ from the
        hardware's, resuming would give different results, so loading is refused unless
        ``partial=True`` (then only words and inputs are restored)."""
        import zipfile
        import zlib
        try:
            with np.load(path, allow_pickle=False) as f:
                missing = sorted({"config", "words", "x", "globals"} - set(f.files))
                if missing:
                    raise ValueError(f"{path}: not a synemu tile checkpoint (missing "
                                     f"{', '.join(missing)})")
                saved = json.loads(str(f["config"]))
                words, x, g = f["words"], f["x"], json.loads(str(f["globals"]))
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, json.JSONDecodeError,
                KeyError) as e:
            raise ValueError(f"{path}: corrupt or unreadable checkpoint "
                             f"({type(e).__name__}: {e})") from None
        if saved != json.loads(json.dumps(self.config.to_dict())):
            raise ValueError(f"{path}: saved tile config differs from this tile's")
        cfg = self.config
        if words.shape != self.shape or words.dtype != np.uint64:
            raise ValueError(f"{path}: words have shape {words.shape} {words.dtype}, this tile "
                             f"needs {self.shape} uint64")
        if x.shape != (cfg.cols,):
            raise ValueError(f"{path}: x has shape {x.shape}, this tile needs ({cfg.cols},)")
        for w in words.ravel().tolist():
            self.device.check_word(int(w))
        if np.any(x < cfg.x_fmt.min) or np.any(x > cfg.x_fmt.max):
            raise ValueError(f"{path}: inputs outside the {cfg.x_width}-bit input range")
        need = {"time", "samples", "rng"}
        if not need <= set(g):
            raise ValueError(f"{path}: globals lack {', '.join(sorted(need - set(g)))}")
        golden = isinstance(self.backend, GoldenBackend)
        if not golden and not partial:
            have = self.backend.snapshot().globals
            diff = sorted(k for k in g if k in have and have[k] != g[k])
            if diff:
                raise ValueError(
                    f"{path}: the {type(self.backend).__name__} cannot restore "
                    f"{', '.join(diff)} (no hardware command sets them), so training would "
                    f"resume differently from the saved tile; load it into a golden tile, or "
                    f"pass partial=True to restore only synapse words and inputs")
        cmds = [Command(Op.WRITE, r, c, int(words[r, c]))
                for r in range(cfg.rows) for c in range(cfg.cols)]
        self.execute(cmds + self._x_cmds(x))
        if golden:
            e = self.backend.engine
            e.time, e.samples, e.since = g["time"], g["samples"], g.get("since", 0)
            e.rng.set_state(g["rng"])
            if e.dev_rng is not None:
                e.dev_rng.set_state(g["dev_rng"])
