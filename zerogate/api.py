"""The Python API: your own PyTorch model and data -> a compressed, checked IR -> Verilog -> Verilator.

The shape users of hls4ml know (convert -> predict -> build)::

    import zerogate
    c = zerogate.compress_model(model, zerogate.Data(x_train, y_train, x_test, y_test),
                                method="taylor", params={"sparsity": 0.8})
    print(c.float_accuracy, c.accuracy, c.golden_matches_torch, c.input_format)
    c.predict(x_test[:5])                      # golden model; real inputs quantized for you
    c.save("build/mine")                       # ir/ + testset.npz
    zerogate.build_hw(c, "build/mine-hw", synth=False, style="folded", lanes=2)

Everything here is a thin composition of the stages (:mod:`compress.frontend`,
:mod:`hwgen.verilog`, :mod:`sim.runner`, :mod:`zerogate.build`); importing this module loads
neither torch nor amaranth: each function imports what it needs when called.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zerogate import golden, ir
from zerogate.errors import ConfigError
from zerogate.fixedpoint import FixedFormat, parse_format, quantize_real

__all__ = ["Compressed", "Data", "build_hw", "compress_model", "generate", "simulate"]


@dataclass(frozen=True, eq=False)
class Data:
    """A labelled data set: numpy arrays (or tensors) ``x_*`` of real inputs ``[n, *sample_shape]``
    and integer class labels ``y_*`` ``[n]``; or, per split, a ``torch.utils.data.DataLoader``
    yielding ``(x, y)`` batches as ``x_*`` with ``y_*`` left None. The validation split is optional."""

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    x_val: Any = None
    y_val: Any = None

    @classmethod
    def from_loaders(cls, train: Any, test: Any, val: Any = None) -> Data:
        """From DataLoaders of ``(x, y)`` batches."""
        return cls(train, None, test, None, val, None)


@dataclass(frozen=True, eq=False)
class Compressed:
    """A compressed network and what was measured making it (accuracies are fractions in [0, 1]).

    ``accuracy`` is the golden model's on the exported IR over the test split (what the hardware
    computes); ``golden_matches_torch`` says the PyTorch reference of the quantized model gave the
    same integers at every layer for every test sample.
    """

    net: ir.Network
    method: str
    params: dict[str, Any]
    float_accuracy: float  # the model's own, before compression (after float training if untrained)
    accuracy: float
    val_accuracy: float | None
    golden_matches_torch: bool
    input_format: FixedFormat
    clipped_inputs: int  # input values (train, validation, test) the input format saturates
    sparsity: float
    memory_bits: int
    train_seconds: float
    test_x: np.ndarray  # int64 input integers of the test split
    test_y: np.ndarray

    def quantize(self, x: Any) -> np.ndarray:
        """Real inputs ``[n, *sample_shape]`` -> input integers (round half up, saturate)."""
        return quantize_real(np.asarray(x, dtype=np.float64), self.input_format)

    def outputs(self, x: Any) -> np.ndarray:
        """The golden model's output integers ``[n, outputs]`` for ``x``: an integer array is taken as
        input integers, a float array as real values and quantized first."""
        a = np.asarray(x)
        return golden.run(self.net, a if a.dtype.kind in "iu" else self.quantize(a))

    def predict(self, x: Any) -> np.ndarray:
        """Class indices (first argmax of :meth:`outputs`) for integer or real inputs ``x``."""
        return np.argmax(self.outputs(x), axis=1)

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/ir`` and ``folder/testset.npz`` (test integers ``x``, labels ``y``)."""
        folder = Path(folder)
        ir.save(self.net, folder / "ir")
        np.savez(folder / "testset.npz", x=self.test_x, y=self.test_y)
        return folder

    def summary(self) -> str:
        return (f"{self.net.name} / {self.method}: float {self.float_accuracy:.2%} -> "
                f"IR {self.accuracy:.2%}, "
                f"sparsity {self.sparsity:.1%}, {self.memory_bits} weight-memory bits, input format "
                f"{self.input_format} ({self.clipped_inputs} values clipped), torch == golden: "
                f"{self.golden_matches_torch}")


def compress_model(model: Any, data: Data, method: str = "taylor", params: dict[str, Any] | None = None,
                   *, input_format: FixedFormat | str | None = None, pretrained: bool = True, seed: int = 0,
                   float_epochs: int | None = None, name: str | None = None,
                   progress: Any = None) -> Compressed:
    """Compress a ``torch.nn.Module`` with ``method`` (``taylor``, ``mixed``, ``squantizer``,
    ``sequential``) and its ``params`` (the keys of the TOML ``[method]`` table).

    ``pretrained=True`` fine-tunes the model's weights (no float pre-training); ``False`` trains it
    in float first for ``float_epochs`` (default 40). ``input_format`` (``"s8.4"``: signed, 8 bits,
    4 fractional; a :class:`FixedFormat`; None: chosen from the whole training set) is how real
    inputs become integers. Deterministic in ``seed``.
    """
    from compress.frontend import compress_module
    from compress.methods.common import FLOAT_EPOCHS
    from compress.userdata import make_data

    if not isinstance(data, Data):
        raise ConfigError(f"data must be a zerogate.Data, got {type(data).__name__}")
    fmt = parse_format(input_format) if isinstance(input_format, str) else input_format
    d = make_data(vars(data), input_format=fmt)
    res = compress_module(model, d, method, params, seed=seed, pretrained=pretrained,
                          float_epochs=FLOAT_EPOCHS if float_epochs is None else float_epochs,
                          name=name or type(model).__name__, progress=progress)
    val = None if d.val_int is None else float(np.mean(golden.predict(res.net, d.val_int) == d.val_labels))
    return Compressed(net=res.net, method=res.method, params=dict(res.net.metadata["params"]),
                      float_accuracy=res.float_accuracy, accuracy=res.accuracy, val_accuracy=val,
                      golden_matches_torch=res.torch_matches_golden, input_format=d.input_format,
                      clipped_inputs=d.clipped, sparsity=res.sparsity, memory_bits=res.memory_bits,
                      train_seconds=res.train_seconds, test_x=res.test_x, test_y=res.test_y)


def _network(net: Compressed | ir.Network | str | Path) -> ir.Network:
    if isinstance(net, Compressed):
        return net.net
    if isinstance(net, ir.Network):
        return net
    return ir.load(Path(net))


def generate(net: Compressed | ir.Network | str | Path, out: str | Path, *, style: str = "unrolled",
             lanes: int = 1, layer_styles: tuple[str, ...] = (), in_lanes: int = 8, out_lanes: int = 2,
             balance: bool = True, single_buffer: bool = False) -> Any:
    """Verilog of the accelerator into ``out`` (the engine options of ``zerogate generate``);
    returns the design (``verilog_path``, ``latency``, ``ii``, per-layer ``layers``)."""
    from hwgen.layers import LayerStyle, parse_layer_styles
    from hwgen.verilog import generate as _generate

    network = _network(net)
    overrides = parse_layer_styles(layer_styles, LayerStyle(style, lanes), len(network.layers))
    return _generate(network, Path(out), in_lanes=in_lanes, out_lanes=out_lanes, style=style, lanes=lanes,
                     layer_styles=overrides, balance=balance, single_buffer=single_buffer)


def simulate(design: Any, net: Compressed | ir.Network | str | Path, x: Any = None,
             out: str | Path = "build/sim") -> Any:
    """Run ``design`` (from :func:`generate`, or its folder) on Verilator over input integers ``x``
    (default: a Compressed's test split) against the golden model; the result has ``ok``,
    ``n_vectors``, ``n_match``, ``cycles_per_inference`` and ``summary()``."""
    from hwgen.verilog import load_design
    from sim.runner import simulate as _simulate

    network = _network(net)
    if x is None:
        if not isinstance(net, Compressed):
            raise ConfigError("simulate needs input integers x unless net is a Compressed (its test split)")
        x = net.test_x
    d = load_design(Path(design)) if isinstance(design, str | Path) else design
    return _simulate(d, network, golden.check_input(network, np.asarray(x)), Path(out))


def build_hw(net: Compressed | str | Path, out: str | Path, *, vectors: str | Path | None = None,
          synth: bool = True, targets: tuple[str, ...] = ("ecp5", "ice40"), **engine: Any) -> dict[str, Any]:
    """``zerogate build`` from a Compressed (its IR and test split) or an IR folder (with the
    ``vectors`` .npz, else seeded random and worst-case vectors and no accuracy): Verilog,
    Verilator check, optionally bitstreams, the bundle and the report, into ``out``. ``engine``:
    ``style``, ``lanes``, ``layer_styles``, ``in_lanes``, ``out_lanes``, ``balance``,
    ``single_buffer``, ``device``, ``package``, ``freq_mhz``. Returns the report's data.

    (Not ``zerogate.build``: that name is the module :mod:`zerogate.build`, which importing it
    would bind over a function of the same name.)"""
    from zerogate.build import BuildOptions
    from zerogate.build import build as _build

    with tempfile.TemporaryDirectory(prefix="zerogate-api-") as tmp:
        if isinstance(net, Compressed):
            src = net.save(Path(tmp))
            ir_path, vectors = src / "ir", src / "testset.npz"
        else:
            ir_path = Path(net)
        vec = None if vectors is None else Path(vectors)
        opts = BuildOptions(out=Path(out), ir_path=ir_path, vectors=vec, synth=synth, targets=tuple(targets),
                            command="zerogate.build_hw(...)", **engine)
        return _build(opts)
