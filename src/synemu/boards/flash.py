"""Programming a board with the first installed programmer (iceprog, openFPGALoader, dfu-util)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .platforms import get_board

__all__ = ["FlashError", "find_programmer", "flash"]


class FlashError(RuntimeError):
    """No programmer installed, no bitstream, or the programmer found no board."""


def find_programmer(board_name: str, *, which=shutil.which):
    """``(tool, argv template)`` of the first installed programmer for the board."""
    b = get_board(board_name)
    for tool, argv in b.programmers:
        path = which(tool)
        if path:
            return tool, [path] + argv[1:]
    names = " or ".join(t for t, _ in b.programmers)
    raise FlashError(f"no programmer for {b.name} found on PATH: install {names} "
                     f"(e.g. `apt install openfpgaloader fpga-icestorm`)")


def flash(board_name: str, bitstream=None, *, out="build", which=shutil.which,
          timeout: float = 120) -> dict:
    """Program ``bitstream`` (default ``<out>/synemu-<board>.<ext>``) into the board's FPGA."""
    b = get_board(board_name)
    bit = Path(bitstream) if bitstream else Path(out) / f"synemu-{b.name}{b.bitstream_ext}"
    if not bit.is_file():
        raise FlashError(f"bitstream {bit} not found: run `synemu build --board {b.name} "
                         f"--out {bit.parent}` first")
    tool, argv = find_programmer(b.name, which=which)
    if tool == "dfu-util":
        suffix = which("dfu-suffix")
        if suffix is None:
            raise FlashError("dfu-util needs dfu-suffix (package dfu-util) to tag the bitstream")
        dfu = bit.with_suffix(".dfu")
        shutil.copyfile(bit, dfu)
        subprocess.run([suffix, "-v", "1209", "-p", "5af0", "-a", str(dfu)], check=True,
                       capture_output=True)
        bit = dfu
    cmd = [a.replace("{bitstream}", str(bit)) for a in argv]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FlashError(f"{tool} timed out after {timeout} s: is the {b.name} connected?") from None
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-6:])
        raise FlashError(f"{tool} failed (exit {r.returncode}); no {b.name} found or it "
                         f"cannot be programmed:\n{tail}")
    return {"board": b.name, "programmer": tool, "bitstream": str(bit), "command": cmd}
