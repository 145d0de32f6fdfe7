// DP16KD: ECP5 16 Kbit true dual-port block RAM (EBR), behavioural model for simulating
// yosys synth_ecp5 netlists (yosys ships it as a blackbox). synemu, issue #16.
//
// Documented behaviour modelled (Lattice TN1264 "ECP5 and ECP5-5G Memory Usage Guide",
// DP16KD): two independent synchronous ports A and B on one 18,432-bit array.
//  * DATA_WIDTH_x = 1, 2, 4, 9 or 18: 16K x 1, 8K x 2, 4K x 4, 2K x 9, 1K x 18. The address
//    is ADx[13:0] with the word address in the upper bits: x18 ADx[13:4] (ADx[1:0] are the
//    byte write enables, bit 0 -> data [8:0], bit 1 -> [17:9]), x9 ADx[13:3], x4 ADx[13:2],
//    x2 ADx[13:1], x1 ADx[13:0]; data on DIx/DOx [W-1:0].
//  * Storage: 1024 words of 18 bits; INITVAL_00..3F hold 16 words each, word i of a row in
//    bits [20*i +: 18]. Narrow modes address that array as bit groups: a x9 word is byte
//    (a % 2) of word a / 2, a x4/x2/x1 word lies in the 16 data bits (bits 0..7 and 9..16,
//    the parity bits 8 and 17 are not reachable), nibble/pair/bit (a % n) of word a / n.
//  * Clock CLKx (CLKxMUX "INV" inverts), clock enable CEx, chip select CSx[2:0] against
//    CSDECODE_x ("0bXYZ"); write when CEx & WEx & selected, read when CEx & selected.
//  * WRITEMODE_x: NORMAL (output unchanged on a write), WRITETHROUGH (output = new data),
//    READBEFOREWRITE (output = old data).
//  * REGMODE_x: NOREG (DOx = read latch) or OUTREG (one more register, enabled by OCEx).
//  * RSTx resets the output latch and register to 0: RESETMODE SYNC (at the clock edge) or
//    ASYNC. GSR and ASYNC_RESET_RELEASE are not modelled (no effect on the output data).
//  * A read of the address the other port writes in the same edge returns the old data
//    (the documented read/write collision result is undefined; yosys never relies on it).
module DP16KD(
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA,
  input CSA2, CSA1, CSA0,
  output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB,
  input CSB2, CSB1, CSB0,
  output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
	parameter DATA_WIDTH_A = 18;
	parameter DATA_WIDTH_B = 18;
	parameter REGMODE_A = "NOREG";
	parameter REGMODE_B = "NOREG";
	parameter RESETMODE = "SYNC";
	parameter ASYNC_RESET_RELEASE = "SYNC";
	parameter CSDECODE_A = "0b000";
	parameter CSDECODE_B = "0b000";
	parameter WRITEMODE_A = "NORMAL";
	parameter WRITEMODE_B = "NORMAL";
	parameter CLKAMUX = "CLKA";
	parameter CLKBMUX = "CLKB";
	parameter WID = 0;
	parameter GSR = "ENABLED";
	parameter INIT_DATA = "STATIC";
	parameter INITVAL_00 = 320'h0;
	parameter INITVAL_01 = 320'h0;
	parameter INITVAL_02 = 320'h0;
	parameter INITVAL_03 = 320'h0;
	parameter INITVAL_04 = 320'h0;
	parameter INITVAL_05 = 320'h0;
	parameter INITVAL_06 = 320'h0;
	parameter INITVAL_07 = 320'h0;
	parameter INITVAL_08 = 320'h0;
	parameter INITVAL_09 = 320'h0;
	parameter INITVAL_0A = 320'h0;
	parameter INITVAL_0B = 320'h0;
	parameter INITVAL_0C = 320'h0;
	parameter INITVAL_0D = 320'h0;
	parameter INITVAL_0E = 320'h0;
	parameter INITVAL_0F = 320'h0;
	parameter INITVAL_10 = 320'h0;
	parameter INITVAL_11 = 320'h0;
	parameter INITVAL_12 = 320'h0;
	parameter INITVAL_13 = 320'h0;
	parameter INITVAL_14 = 320'h0;
	parameter INITVAL_15 = 320'h0;
	parameter INITVAL_16 = 320'h0;
	parameter INITVAL_17 = 320'h0;
	parameter INITVAL_18 = 320'h0;
	parameter INITVAL_19 = 320'h0;
	parameter INITVAL_1A = 320'h0;
	parameter INITVAL_1B = 320'h0;
	parameter INITVAL_1C = 320'h0;
	parameter INITVAL_1D = 320'h0;
	parameter INITVAL_1E = 320'h0;
	parameter INITVAL_1F = 320'h0;
	parameter INITVAL_20 = 320'h0;
	parameter INITVAL_21 = 320'h0;
	parameter INITVAL_22 = 320'h0;
	parameter INITVAL_23 = 320'h0;
	parameter INITVAL_24 = 320'h0;
	parameter INITVAL_25 = 320'h0;
	parameter INITVAL_26 = 320'h0;
	parameter INITVAL_27 = 320'h0;
	parameter INITVAL_28 = 320'h0;
	parameter INITVAL_29 = 320'h0;
	parameter INITVAL_2A = 320'h0;
	parameter INITVAL_2B = 320'h0;
	parameter INITVAL_2C = 320'h0;
	parameter INITVAL_2D = 320'h0;
	parameter INITVAL_2E = 320'h0;
	parameter INITVAL_2F = 320'h0;
	parameter INITVAL_30 = 320'h0;
	parameter INITVAL_31 = 320'h0;
	parameter INITVAL_32 = 320'h0;
	parameter INITVAL_33 = 320'h0;
	parameter INITVAL_34 = 320'h0;
	parameter INITVAL_35 = 320'h0;
	parameter INITVAL_36 = 320'h0;
	parameter INITVAL_37 = 320'h0;
	parameter INITVAL_38 = 320'h0;
	parameter INITVAL_39 = 320'h0;
	parameter INITVAL_3A = 320'h0;
	parameter INITVAL_3B = 320'h0;
	parameter INITVAL_3C = 320'h0;
	parameter INITVAL_3D = 320'h0;
	parameter INITVAL_3E = 320'h0;
	parameter INITVAL_3F = 320'h0;
	function [17:0] initval_word;     // word i of the INITVAL rows (20-bit slots)
		input integer i;
		reg [319:0] row;
		begin
			case (i / 16)
				0: row = INITVAL_00;
				1: row = INITVAL_01;
				2: row = INITVAL_02;
				3: row = INITVAL_03;
				4: row = INITVAL_04;
				5: row = INITVAL_05;
				6: row = INITVAL_06;
				7: row = INITVAL_07;
				8: row = INITVAL_08;
				9: row = INITVAL_09;
				10: row = INITVAL_0A;
				11: row = INITVAL_0B;
				12: row = INITVAL_0C;
				13: row = INITVAL_0D;
				14: row = INITVAL_0E;
				15: row = INITVAL_0F;
				16: row = INITVAL_10;
				17: row = INITVAL_11;
				18: row = INITVAL_12;
				19: row = INITVAL_13;
				20: row = INITVAL_14;
				21: row = INITVAL_15;
				22: row = INITVAL_16;
				23: row = INITVAL_17;
				24: row = INITVAL_18;
				25: row = INITVAL_19;
				26: row = INITVAL_1A;
				27: row = INITVAL_1B;
				28: row = INITVAL_1C;
				29: row = INITVAL_1D;
				30: row = INITVAL_1E;
				31: row = INITVAL_1F;
				32: row = INITVAL_20;
				33: row = INITVAL_21;
				34: row = INITVAL_22;
				35: row = INITVAL_23;
				36: row = INITVAL_24;
				37: row = INITVAL_25;
				38: row = INITVAL_26;
				39: row = INITVAL_27;
				40: row = INITVAL_28;
				41: row = INITVAL_29;
				42: row = INITVAL_2A;
				43: row = INITVAL_2B;
				44: row = INITVAL_2C;
				45: row = INITVAL_2D;
				46: row = INITVAL_2E;
				47: row = INITVAL_2F;
				48: row = INITVAL_30;
				49: row = INITVAL_31;
				50: row = INITVAL_32;
				51: row = INITVAL_33;
				52: row = INITVAL_34;
				53: row = INITVAL_35;
				54: row = INITVAL_36;
				55: row = INITVAL_37;
				56: row = INITVAL_38;
				57: row = INITVAL_39;
				58: row = INITVAL_3A;
				59: row = INITVAL_3B;
				60: row = INITVAL_3C;
				61: row = INITVAL_3D;
				62: row = INITVAL_3E;
				63: row = INITVAL_3F;
				default: row = 0;
			endcase
			initval_word = row >> (20 * (i % 16));
		end
	endfunction

	wire [17:0] DIA = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
	wire [17:0] DIB = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
	wire [13:0] ADA = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
	wire [13:0] ADB = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};

	reg [17:0] mem [0:1023];
	integer i;
	initial begin
		for (i = 0; i < 1024; i = i + 1)
			mem[i] = initval_word(i);
		if ((DATA_WIDTH_A != 1 && DATA_WIDTH_A != 2 && DATA_WIDTH_A != 4 && DATA_WIDTH_A != 9 && DATA_WIDTH_A != 18) ||
		    (DATA_WIDTH_B != 1 && DATA_WIDTH_B != 2 && DATA_WIDTH_B != 4 && DATA_WIDTH_B != 9 && DATA_WIDTH_B != 18)) begin
			$display("DP16KD %m: unsupported DATA_WIDTH %0d/%0d", DATA_WIDTH_A, DATA_WIDTH_B);
			$finish(1);
		end
		if (REGMODE_A != "NOREG" && REGMODE_A != "OUTREG" || REGMODE_B != "NOREG" && REGMODE_B != "OUTREG") begin
			$display("DP16KD %m: unsupported REGMODE %0s/%0s", REGMODE_A, REGMODE_B);
			$finish(1);
		end
	end

	// word index (of 1024) and bit offset within it of narrow word `a` in mode `w`
	function [9:0] word_of;          // the 18-bit word holding narrow word `ad` (any width)
		input integer w;
		input [13:0] ad;
		word_of = ad[13:4];
	endfunction
	function [4:0] bit_of;           // position of data bit 0 in the 18-bit word
		input integer w;
		input [13:0] ad;
		reg [3:0] k;                 // position among the 16 data bits
		begin
			case (w)
				9: k = ad[3] ? 4'd8 : 4'd0;
				4: k = {ad[3:2], 2'b00};
				2: k = {ad[3:1], 1'b0};
				1: k = ad[3:0];
				default: k = 0;
			endcase
			bit_of = (w == 9) ? (ad[3] ? 5'd9 : 5'd0) : (k < 8 ? k : k + 1);
		end
	endfunction
	// read `w` bits of narrow word at `ad` (the data bits skip the parity bit 8)
	function [17:0] rd;
		input integer w;
		input [13:0] ad;
		input [17:0] word;
		reg [4:0] b;
		begin
			b = bit_of(w, ad);
			case (w)
				18: rd = word;
				9: rd = (word >> b) & 18'h1ff;
				default: rd = (((word >> b) & ((18'h1 << w) - 1)));
			endcase
		end
	endfunction
	function [17:0] wr;               // `word` with narrow word `d` written at `ad`
		input integer w;
		input [13:0] ad;
		input [17:0] word;
		input [17:0] d;
		reg [4:0] b;
		reg [17:0] m;
		begin
			if (w == 18) begin
				m = {{9{ad[1]}}, {9{ad[0]}}};
				wr = (word & ~m) | (d & m);
			end else begin
				b = bit_of(w, ad);
				m = (w == 9 ? 18'h1ff : ((18'h1 << w) - 1)) << b;
				wr = (word & ~m) | ((d << b) & m);
			end
		end
	endfunction
	// narrow widths below 9 bits: a group never straddles the parity bit 8 because groups are
	// aligned to their width within the low byte (bits 0..7) or the high byte (bits 9..16)

	wire clka = (CLKAMUX == "INV") ? ~CLKA : CLKA;
	wire clkb = (CLKBMUX == "INV") ? ~CLKB : CLKB;
	wire sela = {CSA2, CSA1, CSA0} == csdecode(CSDECODE_A);
	wire selb = {CSB2, CSB1, CSB0} == csdecode(CSDECODE_B);
	function [2:0] csdecode;
		input [8*5-1:0] s;           // "0bXYZ"
		csdecode = {s[23:16] == "1", s[15:8] == "1", s[7:0] == "1"};
	endfunction

	reg [17:0] lat_a = 0, lat_b = 0, reg_a = 0, reg_b = 0;
	wire [9:0] wa = word_of(DATA_WIDTH_A, ADA), wb = word_of(DATA_WIDTH_B, ADB);

	generate if (RESETMODE == "ASYNC") begin : async_rst
		always @(posedge clka or posedge RSTA)
			if (RSTA) begin lat_a <= 0; reg_a <= 0; end
			else port_a;
		always @(posedge clkb or posedge RSTB)
			if (RSTB) begin lat_b <= 0; reg_b <= 0; end
			else port_b;
	end else begin : sync_rst
		always @(posedge clka)
			if (RSTA) begin
				lat_a <= 0; reg_a <= 0;
				if (CEA && sela && WEA) mem[wa] <= wr(DATA_WIDTH_A, ADA, mem[wa], DIA);
			end else port_a;
		always @(posedge clkb)
			if (RSTB) begin
				lat_b <= 0; reg_b <= 0;
				if (CEB && selb && WEB) mem[wb] <= wr(DATA_WIDTH_B, ADB, mem[wb], DIB);
			end else port_b;
	end endgenerate

	task port_a;
		begin
			if (OCEA) reg_a <= lat_a;
			if (CEA && sela) begin
				if (WEA) begin
					mem[wa] <= wr(DATA_WIDTH_A, ADA, mem[wa], DIA);
					if (WRITEMODE_A == "WRITETHROUGH") lat_a <= rd(DATA_WIDTH_A, ADA, wr(DATA_WIDTH_A, ADA, mem[wa], DIA));
					else if (WRITEMODE_A == "READBEFOREWRITE") lat_a <= rd(DATA_WIDTH_A, ADA, mem[wa]);
				end else
					lat_a <= rd(DATA_WIDTH_A, ADA, mem[wa]);
			end
		end
	endtask
	task port_b;
		begin
			if (OCEB) reg_b <= lat_b;
			if (CEB && selb) begin
				if (WEB) begin
					mem[wb] <= wr(DATA_WIDTH_B, ADB, mem[wb], DIB);
					if (WRITEMODE_B == "WRITETHROUGH") lat_b <= rd(DATA_WIDTH_B, ADB, wr(DATA_WIDTH_B, ADB, mem[wb], DIB));
					else if (WRITEMODE_B == "READBEFOREWRITE") lat_b <= rd(DATA_WIDTH_B, ADB, mem[wb]);
				end else
					lat_b <= rd(DATA_WIDTH_B, ADB, mem[wb]);
			end
		end
	endtask

	wire [17:0] DOA = (REGMODE_A == "OUTREG") ? reg_a : lat_a;
	wire [17:0] DOB = (REGMODE_B == "OUTREG") ? reg_b : lat_b;
	assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = DOA;
	assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = DOB;
endmodule
