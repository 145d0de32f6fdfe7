// ECP5 cells of the board top-level that yosys's cells_sim.v leaves as blackboxes,
// for simulating a synthesised board netlist. synemu, issue #16.
// EHXPLLL: the simulation clock stands for the PLL output (CLKOP = CLKI): the testbench
// clocks the design at its design clock, so the UART divisor relative to that clock is
// what the board has. LOCK rises after 4 input clocks. GSR / SGSR / PUR: no effect (the
// flip-flop models start at their initial values).
module EHXPLLL(input CLKI, CLKFB, PHASESEL1, PHASESEL0, PHASEDIR, PHASESTEP, PHASELOADREG,
               STDBY, PLLWAKESYNC, RST, ENCLKOP, ENCLKOS, ENCLKOS2, ENCLKOS3,
               output CLKOP, CLKOS, CLKOS2, CLKOS3, LOCK, INTLOCK, REFCLK, CLKINTFB);
	parameter CLKI_DIV = 1;
	parameter CLKFB_DIV = 1;
	parameter CLKOP_DIV = 8;
	parameter CLKOS_DIV = 8;
	parameter CLKOS2_DIV = 8;
	parameter CLKOS3_DIV = 8;
	parameter CLKOP_ENABLE = "ENABLED";
	parameter CLKOS_ENABLE = "DISABLED";
	parameter CLKOS2_ENABLE = "DISABLED";
	parameter CLKOS3_ENABLE = "DISABLED";
	parameter CLKOP_CPHASE = 0;
	parameter CLKOS_CPHASE = 0;
	parameter CLKOS2_CPHASE = 0;
	parameter CLKOS3_CPHASE = 0;
	parameter CLKOP_FPHASE = 0;
	parameter CLKOS_FPHASE = 0;
	parameter CLKOS2_FPHASE = 0;
	parameter CLKOS3_FPHASE = 0;
	parameter FEEDBK_PATH = "CLKOP";
	parameter CLKOP_TRIM_POL = "RISING";
	parameter CLKOP_TRIM_DELAY = 0;
	parameter CLKOS_TRIM_POL = "RISING";
	parameter CLKOS_TRIM_DELAY = 0;
	parameter OUTDIVIDER_MUXA = "DIVA";
	parameter OUTDIVIDER_MUXB = "DIVB";
	parameter OUTDIVIDER_MUXC = "DIVC";
	parameter OUTDIVIDER_MUXD = "DIVD";
	parameter PLL_LOCK_MODE = 0;
	parameter PLL_LOCK_DELAY = 200;
	parameter STDBY_ENABLE = "DISABLED";
	parameter REFIN_RESET = "DISABLED";
	parameter SYNC_ENABLE = "DISABLED";
	parameter INT_LOCK_STICKY = "ENABLED";
	parameter DPHASE_SOURCE = "DISABLED";
	parameter PLLRST_ENA = "DISABLED";
	parameter INTFB_WAKE = "DISABLED";
	reg [2:0] cnt = 0;
	always @(posedge CLKI) if (cnt != 3'd7) cnt <= cnt + 1;
	assign CLKOP = CLKI, CLKOS = CLKI, CLKOS2 = CLKI, CLKOS3 = CLKI, REFCLK = CLKI, CLKINTFB = CLKI;
	assign LOCK = cnt >= 3'd4, INTLOCK = LOCK;
endmodule

module GSR(input GSR);
endmodule

module SGSR(input GSR, input CLK);
endmodule

module PUR(input PUR);
	parameter RST_PULSE = 1;
endmodule
