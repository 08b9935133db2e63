"""MoCLIP motion encoder: per-joint inputs, the skeleton attention mask, variants, masking."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.models import moclip as mc
from motion_jax.models.text_encoder import TextEncoderConfig
from motion_jax.skeletons.t2m import T2M

LEFT_FOOT, LEFT_WRIST, RIGHT_WRIST, PELVIS = 10, 20, 21, 0


def test_joint_slices_cover_every_feature_once():
  idx = mc.joint_feature_index(T2M)
  assert idx.shape == (22, mc.JOINT_SLOTS)
  used = idx[idx >= 0]
  assert sorted(used.tolist()) == list(range(263))  # every feature fed to exactly one slot
  # Foot contacts go to the four foot joints (fid_l then fid_r).
  assert idx[7, 12] == 259 and idx[10, 12] == 260 and idx[8, 12] == 261 and idx[11, 12] == 262
  # Left wrist (joint 20): ric 4 + 3*19, rot 67 + 6*19, velocity 193 + 3*20.
  assert idx[20, :3].tolist() == [61, 62, 63]
  assert idx[20, 3:9].tolist() == list(range(181, 187))
  assert idx[20, 9:12].tolist() == [253, 254, 255]


def test_attention_mask_follows_the_skeleton():
  m = mc.joint_attention_mask(T2M, 1, ())
  assert m.shape == (22, 22) and np.array_equal(m, m.T) and m.diagonal().all()
  assert set(np.flatnonzero(m[PELVIS])) == {0, 1, 2, 3}  # pelvis: hips and spine1
  assert set(np.flatnonzero(m[LEFT_WRIST])) == {18, 20}  # elbow only
  assert m.sum() == 22 + 2 * 21  # identity + the 21 bones
  m2 = mc.joint_attention_mask(T2M, 2, ())
  assert m2[LEFT_WRIST, 16] and not m[LEFT_WRIST, 16]  # shoulder is two bones away
  with pytest.raises(ValueError, match="out of range"):
    mc.joint_attention_mask(T2M, 1, (3, 40))


def test_naive_variant_has_no_hand_foot_links():
  adv = mc.attention_mask_for(mc.MoCLIPMotionConfig())
  naive = mc.attention_mask_for(mc.MoCLIPMotionConfig(variant="naive"))
  links = mc.T2M_HAND_FOOT_JOINTS
  for a in links:
    for b in links:
      assert adv[a, b]
  assert adv[LEFT_WRIST, LEFT_FOOT] and adv[LEFT_WRIST, RIGHT_WRIST]
  assert not naive[LEFT_WRIST, LEFT_FOOT] and not naive[LEFT_WRIST, RIGHT_WRIST]
  assert np.array_equal(naive, mc.joint_attention_mask(T2M, 1, ()))
  assert (adv & ~naive).sum() > 0 and not (naive & ~adv).any()


def test_config_validation():
  with pytest.raises(ValueError, match="variant"):
    mc.MoCLIPMotionConfig(variant="fancy")
  with pytest.raises(ValueError, match="divisible"):
    mc.MoCLIPMotionConfig(latent_dim=10, num_heads=4)
  with pytest.raises(ValueError, match="adjacency_hops"):
    mc.MoCLIPMotionConfig(adjacency_hops=0)


def _encoder(variant):
  enc = mc.SkeletonMotionEncoder(mc.MoCLIPMotionConfig.tiny(variant), embed_dim=24)
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 6, 263))
  mask = jnp.ones((2, 6), bool)
  params = jax.jit(enc.init)(jax.random.PRNGKey(0), x, mask)["params"]
  return enc, params, x, mask


@pytest.mark.parametrize("variant", ["advanced", "naive"])
def test_cross_limb_links_reach_the_spatial_output(variant):
  """The left wrist's spatial-layer output depends on the left foot only through the links."""
  enc, params, x, mask = _encoder(variant)
  foot_cols = mc.joint_feature_index(T2M)[LEFT_FOOT]
  x2 = x.at[..., foot_cols[foot_cols >= 0]].add(3.0)

  @jax.jit
  def spatial(inp):
    _, state = enc.apply({"params": params}, inp, mask, mutable=["intermediates"])
    return state["intermediates"]["spatial_output_0"][0]  # [B, T, J, D]

  a, b = np.asarray(spatial(x)), np.asarray(spatial(x2))
  wrist_changed = np.abs(a[:, :, LEFT_WRIST] - b[:, :, LEFT_WRIST]).max()
  assert np.abs(a[:, :, LEFT_FOOT] - b[:, :, LEFT_FOOT]).max() > 1e-3
  if variant == "advanced":
    assert wrist_changed > 1e-3
  else:
    assert wrist_changed == 0.0
  assert ("joint_embedding" in params) == (variant == "advanced")


def test_padding_frames_do_not_change_the_embedding():
  enc, params, x, _ = _encoder("advanced")
  apply = jax.jit(lambda inp, m: enc.apply({"params": params}, inp, m)[0])
  short = x[:, :4]
  z_short = apply(short, jnp.ones((2, 4), bool))
  garbage = 100.0 * jax.random.normal(jax.random.PRNGKey(7), (2, 5, 263))
  padded = jnp.concatenate([short, garbage], axis=1)
  pmask = jnp.concatenate([jnp.ones((2, 4), bool), jnp.zeros((2, 5), bool)], axis=1)
  z_pad = apply(padded, pmask)
  assert z_short.shape == (2, 24)
  np.testing.assert_allclose(np.asarray(z_pad), np.asarray(z_short), atol=1e-5)
  # ...while a real frame does change it.
  z_more = apply(padded, jnp.ones((2, 9), bool))
  assert np.abs(np.asarray(z_more) - np.asarray(z_short)).max() > 1e-3


def test_moclip_module_shapes_and_text_embedding():
  model = mc.MoCLIP(mc.MoCLIPMotionConfig.tiny(), TextEncoderConfig.tiny())
  ids = jnp.asarray([[101, 2000, 2001, 102, 0], [101, 2002, 102, 0, 0]], jnp.int32)
  am = (ids > 0).astype(jnp.int32)
  x = jnp.zeros((2, 8, 263))
  mk = jnp.ones((2, 8), bool)
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), ids, am, x, mk)
  assert set(variables["params"]) == {"motion_encoder", "text_encoder", "logit_scale"}
  out = jax.jit(model.apply)(variables, ids, am, x, mk)
  assert out["motion"].shape == (2, 32) and out["text"].shape == (2, 32)
  np.testing.assert_allclose(np.linalg.norm(np.asarray(out["text"]), axis=-1), 1.0, rtol=1e-5)
  assert float(out["logit_scale"]) == pytest.approx(np.log(1 / 0.07), rel=1e-6)
  with pytest.raises(ValueError, match="263"):
    model.apply(variables, ids, am, jnp.zeros((2, 8, 12)), mk)
