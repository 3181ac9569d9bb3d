"""Templates for the bitstream hand-off (scripts, wrappers, constraints), shipped as package data."""
