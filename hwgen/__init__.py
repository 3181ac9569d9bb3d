"""Hardware generator: IR → Amaranth components → Verilog for a sparse fixed-point accelerator."""
