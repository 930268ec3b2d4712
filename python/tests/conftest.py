"""Where the tests find things: the shipped model, and the CLI and examples of the build under
test (BITNET_CLI, BITNET_EXAMPLES; ctest sets them beside BITNET_LIB)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "default.gguf"


@pytest.fixture(scope="session")
def model_path() -> Path:
    return MODEL


def _from_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} not set: nothing to compare with")
    return value


@pytest.fixture(scope="session")
def cli() -> str:
    return _from_env("BITNET_CLI")


@pytest.fixture(scope="session")
def examples() -> Path:
    return Path(_from_env("BITNET_EXAMPLES"))


@pytest.fixture(scope="module")
def model():
    import bitnet
    m = bitnet.Model(MODEL, threads=2)
    yield m
    m.close()
