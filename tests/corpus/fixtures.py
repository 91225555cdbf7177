"""The corpus as a pytest session fixture, built once per generator version (cached)."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import build

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="session")
def corpus() -> dict[str, build.CorpusFile]:
    files = build.cached(ARTIFACTS, with_libreoffice=build.libreoffice() is not None)
    return {f.name: f for f in files}
