"""The dtype policy of matrix products and convolutions (issue 20, item 6).

Parameters, optimiser state, activations and every reduction stay float32 on every backend; what
the policy chooses is how float32 matrix products and convolutions are computed, through JAX's
``jax_default_matmul_precision`` (applied at trace time, so it reaches every jitted function of a
run: train steps, guidance, sampling):

* ``float32``: true float32 products (JAX's ``highest`` level). On GPU this also turns off the
  TensorFloat32 tensor-core path that JAX uses by default for float32.
* ``bfloat16``: inputs rounded to bfloat16, products accumulated in float32 (the dot algorithm
  ``BF16_BF16_F32``): the tensor-core rate on GPU / the MXU's native mode on TPU.
* ``default``: whatever JAX does by default on the backend (TF32 on recent NVIDIA GPUs, one
  bfloat16 pass on TPU, float32 on CPU).
* ``auto`` (the default): ``bfloat16`` on GPU and TPU, and JAX's default on CPU (float32; XLA:CPU
  has no faster reduced-precision path on the AVX2 machines we use, so nothing is gained there).

Choices (the papers are silent; none of them states a numeric format): the policy is a run-time
setting (`launch.py --precision=`), recorded in run_info.json, rather than a model field, so one
trained checkpoint can be evaluated under any policy; bfloat16 *storage* of activations (flax
``dtype=``) is not used, which keeps the models' code identical across backends at the cost of the
memory-bandwidth half of mixed precision.
"""

from __future__ import annotations

import jax

POLICIES = ("auto", "float32", "bfloat16", "default")
_JAX_SETTING = {"float32": "highest", "bfloat16": "BF16_BF16_F32", "default": None}
ACCELERATORS = ("gpu", "cuda", "rocm", "tpu")


def resolve(policy: str, backend: str | None = None) -> str:
  """The concrete policy (``float32`` | ``bfloat16`` | ``default``) of ``policy`` on ``backend``
  (default: JAX's default backend)."""
  if policy not in POLICIES:
    raise ValueError(f"precision policy must be one of {', '.join(POLICIES)}, got {policy!r}")
  if policy != "auto":
    return policy
  backend = backend or jax.default_backend()
  return "bfloat16" if backend in ACCELERATORS else "default"


def jax_setting(policy: str, backend: str | None = None) -> str | None:
  """The value of ``jax_default_matmul_precision`` for ``policy`` (None: JAX's default)."""
  return _JAX_SETTING[resolve(policy, backend)]


def apply(policy: str) -> str:
  """Sets the policy for the rest of the process; returns the concrete policy in use."""
  concrete = resolve(policy)
  jax.config.update("jax_default_matmul_precision", _JAX_SETTING[concrete])
  return concrete


def scope(policy: str):
  """A context manager applying ``policy`` inside a ``with`` block (benchmarks, tests)."""
  return jax.default_matmul_precision(jax_setting(policy))


__all__ = ["POLICIES", "apply", "jax_setting", "resolve", "scope"]
