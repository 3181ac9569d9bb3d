import pytest

from compress.config import DigitsMLPConfig

#: A few epochs per phase: enough to exercise every code path (and the bit-exactness, which
#: does not depend on how well the model is trained) in about a second.
SMALL = DigitsMLPConfig(float_epochs=4, prune_steps=2, prune_epochs=2, qat_epochs=2)


@pytest.fixture(scope="session")
def small_cfg() -> DigitsMLPConfig:
    return SMALL


@pytest.fixture(scope="session")
def small_result():
    from compress.pipeline import compress_digits_mlp

    return compress_digits_mlp(SMALL)
