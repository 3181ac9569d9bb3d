"""The open bitstream flow: Verilog -> Yosys -> nextpnr -> ecppack, run from Python.

Only ECP5 for now; the parsers are public so other callers can read the same tool output.
"""

from zerogate.flow.ecp5 import DoesNotFitError, FlowResult, nextpnr_device_flag, synthesize_ecp5
from zerogate.flow.parse import ClockTiming

__all__ = ["ClockTiming", "DoesNotFitError", "FlowResult", "nextpnr_device_flag", "synthesize_ecp5"]
