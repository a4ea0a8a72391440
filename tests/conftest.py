"""Shared pytest fixtures: tiny random-init models saved to disk once per test session."""
from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import tiny_models  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, pathlib.Path]:
  """All tiny models, name -> directory that `from_pretrained` loads (see tests/tiny_models.py)."""
  root = tmp_path_factory.mktemp("tiny_models")
  return {name: build(root / name) for name, build in tiny_models.BUILDERS.items()}


@pytest.fixture(scope="session")
def tiny_bert_dir(tiny_model_dirs) -> pathlib.Path:
  return tiny_model_dirs["bert"]


@pytest.fixture(scope="session")
def tiny_roberta_dir(tiny_model_dirs) -> pathlib.Path:
  return tiny_model_dirs["roberta"]


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tiny_model_dirs) -> pathlib.Path:
  return tiny_model_dirs["distilbert"]


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tiny_model_dirs) -> pathlib.Path:
  return tiny_model_dirs["gpt2"]


@pytest.fixture(scope="session")
def tiny_llama_dir(tiny_model_dirs) -> pathlib.Path:
  return tiny_model_dirs["llama"]


@pytest.fixture(scope="session")
def tiny_encoder_dir(tiny_model_dirs) -> pathlib.Path:
  return tiny_model_dirs["bert_encoder"]
