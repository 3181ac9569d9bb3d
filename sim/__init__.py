"""Verification: cocotb testbenches on Verilator comparing the RTL with the golden model."""
