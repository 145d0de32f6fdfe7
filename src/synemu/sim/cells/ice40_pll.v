// SB_PLL40_PAD / SB_PLL40_CORE for simulating iCE40 board netlists and bitstreams (yosys
// ships them as blackboxes; icebox_vlog emits them from the PLL's configuration bits).
// synemu, issue #16. The simulation clock stands for the PLL output: PLLOUTCORE =
// PLLOUTGLOBAL = the input clock (PACKAGEPIN / REFERENCECLK), so the design runs at its
// design clock with the UART divisor it has on the board. LOCK rises 4 input clocks after
// RESETB goes high (BYPASS passes the input through as well).
module SB_PLL40_PAD(input PACKAGEPIN, output PLLOUTCORE, output PLLOUTGLOBAL,
                    input EXTFEEDBACK, input [7:0] DYNAMICDELAY, output LOCK, input BYPASS,
                    input RESETB, input LATCHINPUTVALUE, output SDO, input SDI, input SCLK);
	parameter FEEDBACK_PATH = "SIMPLE";
	parameter DELAY_ADJUSTMENT_MODE_FEEDBACK = "FIXED";
	parameter DELAY_ADJUSTMENT_MODE_RELATIVE = "FIXED";
	parameter SHIFTREG_DIV_MODE = 1'b0;
	parameter FDA_FEEDBACK = 4'b0000;
	parameter FDA_RELATIVE = 4'b0000;
	parameter PLLOUT_SELECT = "GENCLK";
	parameter DIVR = 4'b0000;
	parameter DIVF = 7'b0000000;
	parameter DIVQ = 3'b000;
	parameter FILTER_RANGE = 3'b000;
	parameter ENABLE_ICEGATE = 1'b0;
	parameter TEST_MODE = 1'b0;
	parameter EXTERNAL_DIVIDE_FACTOR = 1;
	reg [2:0] cnt = 0;
	always @(posedge PACKAGEPIN or negedge RESETB)
		if (!RESETB) cnt <= 0;
		else if (cnt != 3'd7) cnt <= cnt + 1;
	assign PLLOUTCORE = PACKAGEPIN, PLLOUTGLOBAL = PACKAGEPIN;
	assign LOCK = cnt >= 3'd4, SDO = 1'b0;
endmodule

module SB_PLL40_CORE(input REFERENCECLK, output PLLOUTCORE, output PLLOUTGLOBAL,
                     input EXTFEEDBACK, input [7:0] DYNAMICDELAY, output LOCK, input BYPASS,
                     input RESETB, input LATCHINPUTVALUE, output SDO, input SDI, input SCLK);
	parameter FEEDBACK_PATH = "SIMPLE";
	parameter DELAY_ADJUSTMENT_MODE_FEEDBACK = "FIXED";
	parameter DELAY_ADJUSTMENT_MODE_RELATIVE = "FIXED";
	parameter SHIFTREG_DIV_MODE = 1'b0;
	parameter FDA_FEEDBACK = 4'b0000;
	parameter FDA_RELATIVE = 4'b0000;
	parameter PLLOUT_SELECT = "GENCLK";
	parameter DIVR = 4'b0000;
	parameter DIVF = 7'b0000000;
	parameter DIVQ = 3'b000;
	parameter FILTER_RANGE = 3'b000;
	parameter ENABLE_ICEGATE = 1'b0;
	parameter TEST_MODE = 1'b0;
	parameter EXTERNAL_DIVIDE_FACTOR = 1;
	reg [2:0] cnt = 0;
	always @(posedge REFERENCECLK or negedge RESETB)
		if (!RESETB) cnt <= 0;
		else if (cnt != 3'd7) cnt <= cnt + 1;
	assign PLLOUTCORE = REFERENCECLK, PLLOUTGLOBAL = REFERENCECLK;
	assign LOCK = cnt >= 3'd4, SDO = 1'b0;
endmodule
