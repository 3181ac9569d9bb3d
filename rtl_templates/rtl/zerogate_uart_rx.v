// zerogate: 8N1 UART receiver (LSB first) for the board top level; DIV = clock cycles per bit, >= 4.
`default_nettype none

// Receiver: a 2-flop synchroniser, start-bit detection, one sample in the middle of every bit.
// `strobe` pulses for one cycle with `data` valid; `frame_err` pulses instead when the stop bit is 0.
module zerogate_uart_rx #(
    parameter integer DIV = 217
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       rx,
    output reg  [7:0] data,
    output reg        strobe,
    output reg        frame_err
);
    localparam integer CW = $clog2(DIV);
    localparam integer FULL_I = DIV - 1;
    localparam [CW-1:0] FULL = FULL_I[CW-1:0];
    localparam integer HALF_I = DIV / 2 - 1;
    localparam [CW-1:0] HALF = HALF_I[CW-1:0];

    /* verilator lint_off PROCASSINIT */  // power-up value: the line idles high
    reg [1:0]    sync = 2'b11;
    /* verilator lint_on PROCASSINIT */
    reg          busy;
    reg [3:0]    bitn;   // 0: start bit, 1..8: data bits, 9: stop bit
    reg [CW-1:0] cnt;
    reg [7:0]    shift;
    wire         line = sync[1];

    always @(posedge clk) begin
        sync      <= {sync[0], rx};
        strobe    <= 1'b0;
        frame_err <= 1'b0;
        if (rst) begin
            sync  <= 2'b11;
            busy  <= 1'b0;
            bitn  <= 4'd0;
            cnt   <= {CW{1'b0}};
            shift <= 8'd0;
            data  <= 8'd0;
        end else if (!busy) begin
            if (!line) begin  // falling edge of a start bit: wait half a bit to its middle
                busy <= 1'b1;
                bitn <= 4'd0;
                cnt  <= HALF;
            end
        end else if (cnt != {CW{1'b0}}) begin
            cnt <= cnt - 1'b1;
        end else begin
            cnt <= FULL;
            if (bitn == 4'd0) begin
                if (line) busy <= 1'b0;  // a glitch, not a start bit
                else bitn <= 4'd1;
            end else if (bitn != 4'd9) begin
                shift <= {line, shift[7:1]};
                bitn  <= bitn + 4'd1;
            end else begin  // middle of the stop bit: done, look for the next start bit now
                busy <= 1'b0;
                if (line) begin
                    data   <= shift;
                    strobe <= 1'b1;
                end else begin
                    frame_err <= 1'b1;
                end
            end
        end
    end
endmodule

`default_nettype wire
