import pytest

from compress.config import DigitsMLPConfig

#: A few epochs per phase: enough to exercise every code path (and the bit-exactness, which
#: does not depend on how well the model is trained) in about a second.
SMALL = DigitsMLPConfig(float_epochs=4, prune_steps=2, prune_epochs=2, qat_epochs=2)


@pytest.fixture(autouse=True)
def _seeded_torch() -> None:
    """Every test starts from the same torch RNG state: under pytest-xdist the order (and so the
    global state a test inherits) changes from run to run, and an unseeded layer init once made a
    gradient assertion fail on a weight that happened to saturate."""
    import torch

    torch.manual_seed(0)


@pytest.fixture(scope="session")
def small_cfg() -> DigitsMLPConfig:
    return SMALL


@pytest.fixture(scope="session")
def small_result():
    from compress.pipeline import compress_digits_mlp

    return compress_digits_mlp(SMALL)
