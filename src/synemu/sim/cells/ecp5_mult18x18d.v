// MULT18X18D: ECP5 sysDSP 18x18 multiplier, behavioural model for simulating yosys
// synth_ecp5 netlists (yosys ships it as a blackbox). synemu, issue #16.
//
// Documented behaviour modelled (Lattice TN1267 "ECP5 and ECP5-5G sysDSP Usage Guide",
// MULT18X18D): P[35:0] = A[17:0] x B[17:0]; SIGNEDA / SIGNEDB make the operand two's
// complement (else unsigned); the product is the exact 36-bit result (signed if either
// operand is), SIGNEDP = SIGNEDA | SIGNEDB. Optional registers, each "NONE" or clocked by
// "CLK0".."CLK3" with clock enable "CE0".."CE3" and reset "RST0".."RST3" (RESETMODE SYNC
// or ASYNC, reset value 0): REG_INPUTA_*, REG_INPUTB_* (the operands and their SIGNED
// flags), REG_PIPELINE_* (the product), REG_OUTPUT_* (P). ROA / ROB = the (registered)
// operands, SROA / SROB = the A / B shift outputs (= ROA / ROB).
// yosys's mapping ($__MUL18X18 in share/lattice/dsp_map_18x18.v) uses no register, C = 0,
// SOURCEA = SOURCEB = 0 and constant SIGNEDA / SIGNEDB. Not modelled, refused at time 0:
// SOURCEx = 1 (the shift-register inputs SRIA / SRIB), MULT_BYPASS, CAS_MATCH_REG; GSR is
// ignored. ROC is the (registered) C input.
module MULT18X18D(A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0, B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0, C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0, SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK3, CLK2, CLK1, CLK0, CE3, CE2, CE1, CE0, RST3, RST2, RST1, RST0, SRIA17, SRIA16, SRIA15, SRIA14, SRIA13, SRIA12, SRIA11, SRIA10, SRIA9, SRIA8, SRIA7, SRIA6, SRIA5, SRIA4, SRIA3, SRIA2, SRIA1, SRIA0, SRIB17, SRIB16, SRIB15, SRIB14, SRIB13, SRIB12, SRIB11, SRIB10, SRIB9, SRIB8, SRIB7, SRIB6, SRIB5, SRIB4, SRIB3, SRIB2, SRIB1, SRIB0, SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8, SROA7, SROA6, SROA5, SROA4, SROA3, SROA2, SROA1, SROA0, SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8, SROB7, SROB6, SROB5, SROB4, SROB3, SROB2, SROB1, SROB0, ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8, ROA7, ROA6, ROA5, ROA4, ROA3, ROA2, ROA1, ROA0, ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8, ROB7, ROB6, ROB5, ROB4, ROB3, ROB2, ROB1, ROB0, ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8, ROC7, ROC6, ROC5, ROC4, ROC3, ROC2, ROC1, ROC0, P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0, SIGNEDP);
	input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0, B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0, C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0, SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK3, CLK2, CLK1, CLK0, CE3, CE2, CE1, CE0, RST3, RST2, RST1, RST0, SRIA17, SRIA16, SRIA15, SRIA14, SRIA13, SRIA12, SRIA11, SRIA10, SRIA9, SRIA8, SRIA7, SRIA6, SRIA5, SRIA4, SRIA3, SRIA2, SRIA1, SRIA0, SRIB17, SRIB16, SRIB15, SRIB14, SRIB13, SRIB12, SRIB11, SRIB10, SRIB9, SRIB8, SRIB7, SRIB6, SRIB5, SRIB4, SRIB3, SRIB2, SRIB1, SRIB0;
	output SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8, SROA7, SROA6, SROA5, SROA4, SROA3, SROA2, SROA1, SROA0, SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8, SROB7, SROB6, SROB5, SROB4, SROB3, SROB2, SROB1, SROB0, ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8, ROA7, ROA6, ROA5, ROA4, ROA3, ROA2, ROA1, ROA0, ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8, ROB7, ROB6, ROB5, ROB4, ROB3, ROB2, ROB1, ROB0, ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8, ROC7, ROC6, ROC5, ROC4, ROC3, ROC2, ROC1, ROC0, P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0, SIGNEDP;
	parameter REG_INPUTA_CLK = "NONE";
	parameter REG_INPUTA_CE = "CE0";
	parameter REG_INPUTA_RST = "RST0";
	parameter REG_INPUTB_CLK = "NONE";
	parameter REG_INPUTB_CE = "CE0";
	parameter REG_INPUTB_RST = "RST0";
	parameter REG_INPUTC_CLK = "NONE";
	parameter REG_INPUTC_CE = "CE0";
	parameter REG_INPUTC_RST = "RST0";
	parameter REG_PIPELINE_CLK = "NONE";
	parameter REG_PIPELINE_CE = "CE0";
	parameter REG_PIPELINE_RST = "RST0";
	parameter REG_OUTPUT_CLK = "NONE";
	parameter REG_OUTPUT_CE = "CE0";
	parameter REG_OUTPUT_RST = "RST0";
	parameter CLK0_DIV = "ENABLED";
	parameter CLK1_DIV = "ENABLED";
	parameter CLK2_DIV = "ENABLED";
	parameter CLK3_DIV = "ENABLED";
	parameter HIGHSPEED_CLK = "NONE";
	parameter GSR = "ENABLED";
	parameter CAS_MATCH_REG = "FALSE";
	parameter SOURCEB_MODE = "B_SHIFT";
	parameter MULT_BYPASS = "DISABLED";
	parameter RESETMODE = "SYNC";

	wire [17:0] A = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0}, B = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0}, C = {C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0};
	wire [3:0] clk = {CLK3, CLK2, CLK1, CLK0}, ce = {CE3, CE2, CE1, CE0}, rst = {RST3, RST2, RST1, RST0};

	initial begin
		if (MULT_BYPASS != "DISABLED" || CAS_MATCH_REG != "FALSE") begin
			$display("MULT18X18D %m: MULT_BYPASS / CAS_MATCH_REG are not modelled");
			$finish(1);
		end
	end
	always @(SOURCEA or SOURCEB)
		if (SOURCEA === 1'b1 || SOURCEB === 1'b1) begin
			$display("MULT18X18D %m: SOURCEA/SOURCEB = 1 (shift inputs) is not modelled");
			$finish(1);
		end

	// one optional register stage: "NONE" = combinational, else CLKn / CEn / RSTn
	`define SYNEMU_MULT_STAGE(name, W, CLKP, CEP, RSTP, din, dout) \
	reg [W-1:0] name``_q = 0; \
	wire name``_clk = clk[CLKP == "CLK1" ? 1 : CLKP == "CLK2" ? 2 : CLKP == "CLK3" ? 3 : 0]; \
	wire name``_ce = ce[CEP == "CE1" ? 1 : CEP == "CE2" ? 2 : CEP == "CE3" ? 3 : 0]; \
	wire name``_rst = rst[RSTP == "RST1" ? 1 : RSTP == "RST2" ? 2 : RSTP == "RST3" ? 3 : 0]; \
	generate if (RESETMODE == "ASYNC") begin : name``_a \
		always @(posedge name``_clk or posedge name``_rst) \
			if (name``_rst) name``_q <= 0; else if (name``_ce) name``_q <= din; \
	end else begin : name``_s \
		always @(posedge name``_clk) \
			if (name``_rst) name``_q <= 0; else if (name``_ce) name``_q <= din; \
	end endgenerate \
	wire [W-1:0] dout = (CLKP == "NONE") ? din : name``_q;

	`SYNEMU_MULT_STAGE(ina, 19, REG_INPUTA_CLK, REG_INPUTA_CE, REG_INPUTA_RST, {SIGNEDA, A}, a_s)
	`SYNEMU_MULT_STAGE(inb, 19, REG_INPUTB_CLK, REG_INPUTB_CE, REG_INPUTB_RST, {SIGNEDB, B}, b_s)
	`SYNEMU_MULT_STAGE(inc, 18, REG_INPUTC_CLK, REG_INPUTC_CE, REG_INPUTC_RST, C, c_s)
	wire signed [36:0] a_x = {{19{a_s[18] & a_s[17]}}, a_s[17:0]};
	wire signed [36:0] b_x = {{19{b_s[18] & b_s[17]}}, b_s[17:0]};
	wire signed [73:0] prod = a_x * b_x;
	`SYNEMU_MULT_STAGE(pipe, 37, REG_PIPELINE_CLK, REG_PIPELINE_CE, REG_PIPELINE_RST, {a_s[18] | b_s[18], prod[35:0]}, p_s)
	`SYNEMU_MULT_STAGE(outr, 37, REG_OUTPUT_CLK, REG_OUTPUT_CE, REG_OUTPUT_RST, p_s, o_s)
	`undef SYNEMU_MULT_STAGE

	assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = o_s[35:0];
	assign SIGNEDP = o_s[36];
	assign {ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8, ROA7, ROA6, ROA5, ROA4, ROA3, ROA2, ROA1, ROA0} = a_s[17:0];
	assign {ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8, ROB7, ROB6, ROB5, ROB4, ROB3, ROB2, ROB1, ROB0} = b_s[17:0];
	assign {SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8, SROA7, SROA6, SROA5, SROA4, SROA3, SROA2, SROA1, SROA0} = a_s[17:0];
	assign {SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8, SROB7, SROB6, SROB5, SROB4, SROB3, SROB2, SROB1, SROB0} = b_s[17:0];
	assign {ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8, ROC7, ROC6, ROC5, ROC4, ROC3, ROC2, ROC1, ROC0} = c_s;
endmodule
