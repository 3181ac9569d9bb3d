"""The IR: the only contract between ``compress`` (which writes it) and ``hwgen`` (which reads it).

Torch-free on purpose: dataclasses and numpy. On disk an IR is a folder holding
``manifest.json`` (schema version, formats, shapes, a checksum) and ``weights.npz`` (every
integer array). Constructing a :class:`Network` validates it; :func:`load` also checks the
schema version and checksum, reads nothing outside the folder and no array before its header
matches the manifest and the size cap; :func:`save` writes atomically and byte-for-byte
deterministically.
"""

from zerogate.ir.archive import MAX_ARRAY_BYTES
from zerogate.ir.names import MAX_NAME_LEN, check_identifier, to_identifier
from zerogate.ir.serial import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    WEIGHTS,
    _npz_bytes,
    load,
    save,
    to_manifest,
)
from zerogate.ir.types import (
    POOL_KINDS,
    WEIGHT_KINDS,
    Layer,
    LayerKind,
    Network,
    Node,
    Pool,
    WeightLayer,
    conv_out_size,
)
from zerogate.ir.validate import MAX_BIAS_BITS, MAX_SHIFT, validate, validate_layer, validate_pool

__all__ = [
    "MANIFEST", "MAX_ARRAY_BYTES", "MAX_BIAS_BITS", "MAX_MANIFEST_BYTES", "MAX_NAME_LEN", "MAX_SHIFT",
    "POOL_KINDS", "SCHEMA_NAME", "SCHEMA_VERSION", "WEIGHTS", "WEIGHT_KINDS", "Layer", "LayerKind",
    "Network", "Node", "Pool", "WeightLayer", "_npz_bytes", "check_identifier", "conv_out_size", "load",
    "save", "to_identifier", "to_manifest", "validate", "validate_layer", "validate_pool",
]
