// zerogate: 8N1 UART transmitter (LSB first) for the board top level; DIV = clock cycles per bit, >= 4.
`default_nettype none

// Transmitter: `start` (while `idle`) sends `data`; the line idles high.
module zerogate_uart_tx #(
    parameter integer DIV = 217
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       start,
    input  wire [7:0] data,
    output wire       idle,
    output wire       tx
);
    localparam integer CW = $clog2(DIV);
    localparam integer FULL_I = DIV - 1;
    localparam [CW-1:0] FULL = FULL_I[CW-1:0];

    /* verilator lint_off PROCASSINIT */  // power-up value: the line idles high, even before reset
    reg [9:0]    shift = 10'h3ff;
    /* verilator lint_on PROCASSINIT */
    reg [3:0]    left;
    reg [CW-1:0] cnt;

    assign idle = left == 4'd0;
    assign tx = shift[0];

    always @(posedge clk) begin
        if (rst) begin
            shift <= 10'h3ff;
            left  <= 4'd0;
            cnt   <= {CW{1'b0}};
        end else if (idle) begin
            if (start) begin
                shift <= {1'b1, data, 1'b0};
                left  <= 4'd10;
                cnt   <= FULL;
            end
        end else if (cnt != {CW{1'b0}}) begin
            cnt <= cnt - 1'b1;
        end else begin
            shift <= {1'b1, shift[9:1]};
            left  <= left - 4'd1;
            cnt   <= FULL;
        end
    end
endmodule

`default_nettype wire
