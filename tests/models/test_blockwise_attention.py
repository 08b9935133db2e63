"""`models.attention.blockwise_attention` against PyTorch's scaled_dot_product_attention in float64
(values and the gradients of all three inputs), on rows that do not divide into blocks, with
unequal query / key lengths and with large logits (the row maximum must be subtracted); with a
dropout multiplier, against torch autograd of softmax(q k^T) * keep @ v."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from motion_jax.models.attention import blockwise_attention

N, TQ, TK, D = 7, 5, 9, 3


def _inputs(scale):
  rng = np.random.default_rng(0)
  q, k, v, g = (rng.normal(size=s) for s in ((N, TQ, D), (N, TK, D), (N, TK, D), (N, TQ, D)))
  return scale * q, k, v, g


def _torch_reference(q, k, v, g):
  tq, tk, tv = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (q, k, v))
  out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, scale=1.0)
  (out * torch.tensor(g)).sum().backward()
  return out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


@pytest.mark.parametrize("block", [1, 3, N, 64])
@pytest.mark.parametrize("scale", [1.0, 30.0])  # 30: logits up to ~300, exp overflows unshifted
def test_values_and_gradients_match_torch(block, scale):
  q, k, v, g = _inputs(scale)
  out_ref, dq_ref, dk_ref, dv_ref = _torch_reference(q, k, v, g)

  def loss(q, k, v):
    return jnp.sum(blockwise_attention(q, k, v, block) * g)

  args = [jnp.asarray(a, jnp.float32) for a in (q, k, v)]
  out = blockwise_attention(*args, block)
  grads = jax.grad(loss, argnums=(0, 1, 2))(*args)
  np.testing.assert_allclose(np.asarray(out), out_ref, rtol=0, atol=2e-5)
  for got, want in zip(grads, (dq_ref, dk_ref, dv_ref), strict=True):
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=2e-4 * max(1.0, scale))


def _torch_dropout_reference(q, k, v, keep, g):
  tq, tk, tv = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (q, k, v))
  p = torch.softmax(tq @ tk.transpose(-1, -2), -1) * torch.tensor(keep, dtype=torch.float64)
  out = p @ tv
  (out * torch.tensor(g)).sum().backward()
  return out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


@pytest.mark.parametrize("block", [2, 64])
def test_dropout_multiplier_matches_torch(block):
  """A [Tq, Tk] multiplier (0 or 1 / keep-probability, shared by every row)."""
  q, k, v, g = _inputs(3.0)
  keep = (np.random.default_rng(1).uniform(size=(TQ, TK)) > 0.3) / 0.7
  out_ref, dq_ref, dk_ref, dv_ref = _torch_dropout_reference(q, k, v, keep, g)
  args = [jnp.asarray(a, jnp.float32) for a in (q, k, v)]
  m = jnp.asarray(keep, jnp.float32)

  def loss(q, k, v):
    return jnp.sum(blockwise_attention(q, k, v, block, m) * g)

  np.testing.assert_allclose(np.asarray(blockwise_attention(*args, block, m)), out_ref, atol=2e-5)
  grads = jax.grad(loss, argnums=(0, 1, 2))(*args)
  for got, want in zip(grads, (dq_ref, dk_ref, dv_ref), strict=True):
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=6e-4)
  with pytest.raises(ValueError, match="keep"):
    blockwise_attention(*args, block, m[:, :-1])


def test_jit_and_grad_of_grad_shapes():
  q, k, v, _ = (jnp.asarray(a, jnp.float32) for a in _inputs(1.0))
  f = jax.jit(lambda q: blockwise_attention(q, k, v, 2))
  assert f(q).shape == (N, TQ, D)
  assert jax.jit(jax.grad(lambda q: f(q).sum()))(q).shape == q.shape
