"""The open bitstream flows: Verilog -> Yosys -> nextpnr -> ecppack/icepack, run from Python.

ECP5 (nextpnr-ecp5 + ecppack) and iCE40 (nextpnr-ice40 + icepack); the parsers are public so other
callers can read the same tool output.
"""

from zerogate.flow.common import DoesNotFitError, FlowResult
from zerogate.flow.ecp5 import nextpnr_device_flag, synthesize_ecp5
from zerogate.flow.ice40 import UP5K, Ice40Device, synthesize_ice40
from zerogate.flow.parse import ClockTiming

__all__ = ["UP5K", "ClockTiming", "DoesNotFitError", "FlowResult", "Ice40Device", "nextpnr_device_flag",
           "synthesize_ecp5", "synthesize_ice40"]
