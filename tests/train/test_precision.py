"""motion_jax.train.precision: the matmul / convolution dtype policy (issue 20, item 6)."""

import jax
import jax.numpy as jnp
import pytest

from motion_jax.train import precision


@pytest.mark.parametrize(
  "policy, backend, expected",
  [
    ("auto", "cpu", "default"),
    ("auto", "gpu", "bfloat16"),
    ("auto", "cuda", "bfloat16"),
    ("auto", "tpu", "bfloat16"),
    ("float32", "gpu", "float32"),
    ("bfloat16", "cpu", "bfloat16"),
    ("default", "tpu", "default"),
  ],
)
def test_auto_is_bfloat16_on_accelerators_and_float32_on_cpu(policy, backend, expected):
  assert precision.resolve(policy, backend) == expected


def test_an_unknown_policy_names_the_choices():
  with pytest.raises(ValueError, match="auto, float32, bfloat16, default.*'fp16'"):
    precision.resolve("fp16")


def _dot_text() -> str:
  x = jnp.ones((8, 8))
  return jax.jit(lambda a: a @ a).lower(x).as_text()


def test_the_policy_reaches_the_traced_products_and_is_restored():
  before = jax.config.jax_default_matmul_precision
  with precision.scope("bfloat16"):
    text = _dot_text()
    assert "BF16" in text.upper() or "bf16" in text, text  # the dot algorithm bf16 x bf16 -> f32
  with precision.scope("float32"):
    assert "HIGHEST" in _dot_text().upper()
  assert jax.config.jax_default_matmul_precision == before
  plain = _dot_text()
  assert "HIGHEST" not in plain.upper() and "BF16" not in plain.upper()
