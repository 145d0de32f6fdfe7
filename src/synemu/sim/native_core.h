// synemu native driver: the generic part of the compiled Verilator driver.
//
// Included by the per-design binding file that synemu.sim.native generates (it defines
// SN_TOP, the Verilated class, and sn_bind(), which lists the top-level ports).  Exposes a
// C ABI loaded with ctypes: a clock, port access by index, the stream protocol of every
// served design (cmd/resp streams + busy, as synemu.sim.cocotb_stream.StreamDriver drives
// it, cycle for cycle), whole-state snapshots through the debug peek ports, and the byte
// pipe of the simulated board harness (synemu.gateware.link.SimHarness).
//
// Time: 10 ns clock (PERIOD_NS of the cocotb driver); `cycle` counts like the cocotb
// driver's `sim_time // 10`, i.e. it is 1 after reset and grows by one per clock.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "verilated.h"
#if SN_TRACE == 1
#include "verilated_vcd_c.h"
typedef VerilatedVcdC SnTrace;
#elif SN_TRACE == 2
#include "verilated_fst_c.h"
typedef VerilatedFstC SnTrace;
#endif

struct SnPort {
    const char* name;
    void* ptr;
    int width;
    int input;
};

template <class T> static void* sn_ptr(T& x) { return (void*)&x; }
template <std::size_t N> static void* sn_ptr(VlWide<N>& x) { return (void*)&x.m_storage[0]; }

static inline int sn_words(int width) { return (width + 31) / 32; }

static inline void sn_get(const SnPort& p, uint32_t* out) {
    if (p.width <= 8) out[0] = *(const uint8_t*)p.ptr;
    else if (p.width <= 16) out[0] = *(const uint16_t*)p.ptr;
    else if (p.width <= 32) out[0] = *(const uint32_t*)p.ptr;
    else if (p.width <= 64) {
        uint64_t v = *(const uint64_t*)p.ptr;
        out[0] = (uint32_t)v;
        out[1] = (uint32_t)(v >> 32);
    } else memcpy(out, p.ptr, 4 * sn_words(p.width));
}

static inline uint64_t sn_get64(const SnPort& p) {
    if (p.width <= 8) return *(const uint8_t*)p.ptr;
    if (p.width <= 16) return *(const uint16_t*)p.ptr;
    if (p.width <= 32) return *(const uint32_t*)p.ptr;
    return *(const uint64_t*)p.ptr;  // low 64 bits of wider ports (VlWide is little-endian words)
}

static inline void sn_put(const SnPort& p, const uint32_t* in) {
    int n = sn_words(p.width);
    int top = p.width - 32 * (n - 1);
    uint32_t mask = top == 32 ? 0xffffffffu : ((1u << top) - 1);
    if (p.width <= 8) *(uint8_t*)p.ptr = (uint8_t)(in[0] & mask);
    else if (p.width <= 16) *(uint16_t*)p.ptr = (uint16_t)(in[0] & mask);
    else if (p.width <= 32) *(uint32_t*)p.ptr = in[0] & mask;
    else if (p.width <= 64)
        *(uint64_t*)p.ptr = (uint64_t)in[0] | ((uint64_t)(in[1] & mask) << 32);
    else {
        uint32_t* w = (uint32_t*)p.ptr;
        for (int i = 0; i < n - 1; i++) w[i] = in[i];
        w[n - 1] = in[n - 1] & mask;
    }
}

static inline void sn_put64(const SnPort& p, uint64_t v) {
    uint32_t w[2] = {(uint32_t)v, (uint32_t)(v >> 32)};
    if (p.width > 64) {
        std::vector<uint32_t> buf(sn_words(p.width), 0);
        buf[0] = w[0];
        buf[1] = w[1];
        sn_put(p, buf.data());
    } else sn_put(p, w);
}

struct SnSim {
    VerilatedContext* ctx = nullptr;
    SN_TOP* top = nullptr;
    std::vector<SnPort> ports;
    uint64_t cycle = 0;
    uint64_t time_ns = 0;
#ifdef SN_TRACE
    SnTrace* tr = nullptr;
#endif
    bool tracing = false;
    int clk = -1, rst = -1;
    // stream protocol
    int cmd_valid = -1, cmd_payload = -1, resp_valid = -1, resp_payload = -1,
        resp_ready = -1, busy = -1;
    // snapshot program
    std::vector<int> peek_addr, peek_data, peek_count, direct;
    int snap_words = 0;
    // byte pipe
    int in_data = -1, in_len = -1, in_load = -1, in_busy = -1, out_data = -1,
        out_count = -1, out_clear = -1, out_overflow = -1;
    int window = 0;
    std::vector<uint8_t> txq;
    size_t txpos = 0;
    std::vector<uint8_t> rx;
    bool overflow = false;
    std::string error;
};

static void sn_bind(SnSim* s);  // generated

static inline void sn_eval(SnSim* s) {
    s->top->eval();
#ifdef SN_TRACE
    if (s->tracing && s->tr) s->tr->dump(s->time_ns * 1000);  // timescale 1ns/1ps
#endif
}

static inline void sn_tick(SnSim* s) {
    // falling-edge phase -> rising edge -> falling edge
    SnPort& c = s->ports[s->clk];
    *(uint8_t*)c.ptr = 1;
    s->time_ns += 5;
    sn_eval(s);
    *(uint8_t*)c.ptr = 0;
    s->time_ns += 5;
    sn_eval(s);
    s->cycle++;
}

extern "C" {

int sn_port_count(SnSim* s) { return (int)s->ports.size(); }
const char* sn_port_name(SnSim* s, int i) { return s->ports[i].name; }
int sn_port_width(SnSim* s, int i) { return s->ports[i].width; }
int sn_port_input(SnSim* s, int i) { return s->ports[i].input; }
const char* sn_error(SnSim* s) { return s->error.c_str(); }

int sn_find(SnSim* s, const char* name) {
    for (size_t i = 0; i < s->ports.size(); i++)
        if (!strcmp(s->ports[i].name, name)) return (int)i;
    return -1;
}

SnSim* sn_new() {
    SnSim* s = new SnSim();
    s->ctx = new VerilatedContext();
#ifdef SN_TRACE
    s->ctx->traceEverOn(true);
#endif
    s->top = new SN_TOP(s->ctx, "top");
    sn_bind(s);
    s->clk = sn_find(s, "clk");
    s->rst = sn_find(s, "rst");
    return s;
}

void sn_free(SnSim* s) {
#ifdef SN_TRACE
    if (s->tr) {
        s->tr->close();
        delete s->tr;
    }
#endif
    s->top->final();
    delete s->top;
    delete s->ctx;
    delete s;
}

// Reset like the cocotb driver: inputs 0 (resp ready 1), two clocks in reset, release;
// ends in the falling-edge phase with cycle = 1 (as the cocotb driver counts).
void sn_reset(SnSim* s) {
    uint32_t zero[64] = {0};
    for (auto& p : s->ports)
        if (p.input && sn_words(p.width) <= 64) sn_put(p, zero);
    if (s->resp_ready >= 0) sn_put64(s->ports[s->resp_ready], 1);
    sn_put64(s->ports[s->rst], 1);
    sn_eval(s);
    sn_tick(s);
    sn_tick(s);
    sn_put64(s->ports[s->rst], 0);
    sn_eval(s);
    s->cycle = 1;
}

uint64_t sn_cycle(SnSim* s) { return s->cycle; }
void sn_set(SnSim* s, int i, const uint32_t* v) { sn_put(s->ports[i], v); }
void sn_get_port(SnSim* s, int i, uint32_t* v) { sn_get(s->ports[i], v); }
void sn_eval_c(SnSim* s) { sn_eval(s); }
void sn_clock(SnSim* s, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) sn_tick(s);
}

int sn_trace_open(SnSim* s, const char* path) {
#ifdef SN_TRACE
    if (!s->tr) {
        s->tr = new SnTrace();
        s->top->trace(s->tr, 99);
        s->tr->open(path);
    }
    return 0;
#else
    (void)s;
    (void)path;
    return -1;
#endif
}

void sn_trace_enable(SnSim* s, int on) {
    s->tracing = on != 0;
#ifdef SN_TRACE
    if (s->tr) {
        if (s->tracing) s->tr->dump(s->time_ns * 1000);
        s->tr->flush();
    }
#endif
}

// -- stream protocol -------------------------------------------------------------------
int sn_stream_init(SnSim* s) {
    s->cmd_valid = sn_find(s, "cmd__valid");
    s->cmd_payload = sn_find(s, "cmd__payload");
    s->resp_valid = sn_find(s, "resp__valid");
    s->resp_payload = sn_find(s, "resp__payload");
    s->resp_ready = sn_find(s, "resp__ready");
    s->busy = sn_find(s, "busy");
    if (s->cmd_valid < 0 || s->cmd_payload < 0 || s->resp_valid < 0 || s->resp_payload < 0 ||
        s->resp_ready < 0 || s->busy < 0)
        return -1;
    return 0;
}

int sn_snap_config(SnSim* s, int n_peek, const int* addr, const int* data, const int* count,
                   int n_direct, const int* direct) {
    s->peek_addr.assign(addr, addr + n_peek);
    s->peek_data.assign(data, data + n_peek);
    s->peek_count.assign(count, count + n_peek);
    s->direct.assign(direct, direct + n_direct);
    int w = 0;
    for (int i = 0; i < n_peek; i++) w += count[i] * sn_words(s->ports[data[i]].width);
    for (int i = 0; i < n_direct; i++) w += sn_words(s->ports[direct[i]].width);
    s->snap_words = w;
    return w;
}

// One snapshot record (peek ports are combinational; the driver then spends one clock,
// as the cocotb driver's settle() does, so cycle counts stay identical).
void sn_snapshot(SnSim* s, uint32_t* out) {
    uint32_t* o = out;
    for (size_t k = 0; k < s->peek_addr.size(); k++) {
        const SnPort& a = s->ports[s->peek_addr[k]];
        const SnPort& d = s->ports[s->peek_data[k]];
        int nw = sn_words(d.width);
        for (int i = 0; i < s->peek_count[k]; i++) {
            sn_put64(a, (uint64_t)i);
            s->top->eval();
            sn_get(d, o);
            o += nw;
        }
    }
    for (int p : s->direct) {
        sn_get(s->ports[p], o);
        o += sn_words(s->ports[p].width);
    }
    sn_tick(s);
}

// Run n commands (cmd_words uint32 words each); command i collects nresp[i] responses
// (resp_words words each) into resp.  With snap != NULL a snapshot record follows every
// command (snap + i * snap_words) and cycles[i] is the cycle it was taken at.  A command
// that does not finish within max_cycles stops the run.  Returns the number of commands
// completed (== n on success).
int64_t sn_stream_run(SnSim* s, int64_t n, const uint32_t* cmds, int cmd_words,
                      const int32_t* nresp, uint32_t* resp, int resp_words,
                      uint64_t max_cycles, uint32_t* snap, uint64_t* cycles) {
    SnPort& cv = s->ports[s->cmd_valid];
    SnPort& cp = s->ports[s->cmd_payload];
    SnPort& rv = s->ports[s->resp_valid];
    SnPort& rp = s->ports[s->resp_payload];
    SnPort& by = s->ports[s->busy];
    int rpw = sn_words(rp.width);
    std::vector<uint32_t> tmp(rpw > resp_words ? rpw : resp_words);
    for (int64_t i = 0; i < n; i++) {
        uint64_t start = s->cycle;
        sn_put(cp, cmds + i * cmd_words);
        sn_put64(cv, 1);
        sn_tick(s);  // accepted at the rising edge (the design was idle)
        sn_put64(cv, 0);
        for (int r = 0; r < nresp[i]; r++) {
            while (!sn_get64(rv)) {
                if (s->cycle - start > max_cycles) {
                    s->error = "command " + std::to_string(i) + ": no response within " +
                               std::to_string(max_cycles) + " cycles";
                    return i;
                }
                sn_tick(s);
            }
            sn_get(rp, tmp.data());
            memcpy(resp, tmp.data(), 4 * resp_words);
            resp += resp_words;
            sn_tick(s);  // consumed at the rising edge (ready held high)
        }
        while (sn_get64(by)) {
            if (s->cycle - start > max_cycles) {
                s->error = "command " + std::to_string(i) + ": still busy after " +
                           std::to_string(max_cycles) + " cycles";
                return i;
            }
            sn_tick(s);
        }
        if (snap) {
            if (cycles) cycles[i] = s->cycle;
            sn_snapshot(s, snap + i * s->snap_words);
        }
    }
    return n;
}

// -- byte pipe (SimHarness) -------------------------------------------------------------
int sn_pipe_init(SnSim* s) {
    s->in_data = sn_find(s, "in_data");
    s->in_len = sn_find(s, "in_len");
    s->in_load = sn_find(s, "in_load");
    s->in_busy = sn_find(s, "in_busy");
    s->out_data = sn_find(s, "out_data");
    s->out_count = sn_find(s, "out_count");
    s->out_clear = sn_find(s, "out_clear");
    s->out_overflow = sn_find(s, "out_overflow");
    if (s->in_data < 0 || s->in_len < 0 || s->in_load < 0 || s->in_busy < 0 ||
        s->out_data < 0 || s->out_count < 0 || s->out_clear < 0 || s->out_overflow < 0)
        return -1;
    s->window = s->ports[s->in_data].width / 8;
    return s->window;
}

static void sn_pipe_step(SnSim* s) {
    SnPort& load = s->ports[s->in_load];
    SnPort& clear = s->ports[s->out_clear];
    bool loaded = false, cleared = false;
    if (s->txpos < s->txq.size() && !sn_get64(s->ports[s->in_busy])) {
        size_t k = s->txq.size() - s->txpos;
        if (k > (size_t)s->window) k = s->window;
        std::vector<uint32_t> buf(sn_words(8 * s->window), 0);
        memcpy(buf.data(), s->txq.data() + s->txpos, k);
        sn_put(s->ports[s->in_data], buf.data());
        sn_put64(s->ports[s->in_len], k);
        sn_put64(load, 1);
        s->txpos += k;
        if (s->txpos == s->txq.size()) {
            s->txq.clear();
            s->txpos = 0;
        }
        loaded = true;
    }
    uint64_t cnt = sn_get64(s->ports[s->out_count]);
    if (cnt) {
        std::vector<uint32_t> buf(sn_words(8 * s->window));
        sn_get(s->ports[s->out_data], buf.data());
        const uint8_t* b = (const uint8_t*)buf.data();
        s->rx.insert(s->rx.end(), b, b + cnt);
        sn_put64(clear, 1);
        cleared = true;
    }
    if (sn_get64(s->ports[s->out_overflow])) s->overflow = true;
    sn_tick(s);
    if (loaded) sn_put64(load, 0);
    if (cleared) sn_put64(clear, 0);
}

void sn_pipe_write(SnSim* s, const uint8_t* data, int64_t n) {
    s->txq.insert(s->txq.end(), data, data + n);
}

void sn_pipe_flush(SnSim* s) { s->rx.clear(); }

// Clock until n bytes arrived or max_cycles passed, then on while bytes keep arriving
// within `linger` clocks.  Copies at most cap bytes to out; returns how many (-1: the
// harness receive buffer overflowed).  Bytes beyond cap stay queued for the next read.
int64_t sn_pipe_read(SnSim* s, int64_t n, uint64_t max_cycles, uint64_t linger, uint8_t* out,
                     int64_t cap) {
    uint64_t end = s->cycle + max_cycles;
    while ((int64_t)s->rx.size() < n && s->cycle < end) sn_pipe_step(s);
    for (;;) {
        size_t before = s->rx.size();
        for (uint64_t i = 0; i < linger; i++) sn_pipe_step(s);
        if (s->rx.size() == before) break;
    }
    if (s->overflow) {
        s->error = "harness receive buffer overflowed";
        return -1;
    }
    int64_t k = (int64_t)s->rx.size() < cap ? (int64_t)s->rx.size() : cap;
    memcpy(out, s->rx.data(), k);
    s->rx.erase(s->rx.begin(), s->rx.begin() + k);
    return k;
}

int64_t sn_pipe_pending(SnSim* s) { return (int64_t)s->rx.size(); }

}  // extern "C"
