"""SMPL LBS in JAX against smplx.SMPL (torch CPU) on a synthetic model file."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.skeletons import smpl

torch = pytest.importorskip("torch")
smplx = pytest.importorskip("smplx")

N_SAMPLES = 50
# smplx's VertexJointSelector picks extra keypoints from fixed vertex ids of the 6890-vertex
# mesh; the synthetic mesh is smaller, so map those names to low vertex ids. Only the 24
# kinematic joints are compared.
_EXTRA_NAMES = [
  "nose",
  "reye",
  "leye",
  "rear",
  "lear",
  "LBigToe",
  "LSmallToe",
  "LHeel",
  "RBigToe",
  "RSmallToe",
  "RHeel",
] + [h + t for h in "lr" for t in ["thumb", "index", "middle", "ring", "pinky"]]
_VERTEX_IDS = {name: i for i, name in enumerate(_EXTRA_NAMES)}

# Jitted once per module: eager op-by-op execution of the 24-joint FK is slow to dispatch.
_fwd = jax.jit(smpl.smpl_forward)
_fwd_amass = jax.jit(smpl.smpl_forward_amass)


@pytest.fixture(scope="module")
def model_pkl(tmp_path_factory):
  path = tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.pkl"
  smpl.make_synthetic_smpl_model(seed=0, path=path)
  return path


def _random_inputs(seed, n=N_SAMPLES):
  rng = np.random.default_rng(seed)
  return dict(
    betas=rng.normal(0, 1.0, (n, 10)),
    global_orient=rng.normal(0, 0.8, (n, 3)),
    body_pose=rng.normal(0, 0.5, (n, 69)),
    transl=rng.normal(0, 0.5, (n, 3)),
  )


def _smplx_reference(path, inputs, dtype):
  model = smplx.SMPL(str(path), vertex_ids=_VERTEX_IDS, dtype=dtype, batch_size=N_SAMPLES)
  with torch.no_grad():
    out = model(**{k: torch.tensor(v, dtype=dtype) for k, v in inputs.items()})
  return out.vertices.numpy(), out.joints[:, :24].numpy()


def test_matches_smplx_float64(model_pkl):
  inputs = _random_inputs(1)
  ref_v, ref_j = _smplx_reference(model_pkl, inputs, torch.float64)
  with jax.enable_x64(True):
    params = smpl.load_smpl_model(model_pkl, dtype=np.float64)
    pose = np.concatenate([inputs["global_orient"], inputs["body_pose"]], axis=1)
    out = _fwd(
      params, jnp.asarray(inputs["betas"]), jnp.asarray(pose), jnp.asarray(inputs["transl"])
    )
    assert out.vertices.dtype == jnp.float64
    err_v = np.abs(np.asarray(out.vertices) - ref_v).max()
    err_j = np.abs(np.asarray(out.joints) - ref_j).max()
  print(f"float64 max abs error: vertices {err_v:.2e}, joints {err_j:.2e}")
  assert err_v < 1e-5 and err_j < 1e-5
  # The poses are far from rest: the comparison is not trivial.
  assert np.abs(ref_v - ref_v.mean(axis=0)).max() > 0.1


def test_matches_smplx_float32_npz_and_amass_split(model_pkl, tmp_path):
  raw = smpl.make_synthetic_smpl_model(seed=0, path=tmp_path / "model.npz")
  inputs = _random_inputs(2)
  ref_v, ref_j = _smplx_reference(model_pkl, inputs, torch.float32)
  params = smpl.load_smpl_model(tmp_path / "model.npz")
  np.testing.assert_array_equal(np.asarray(params.v_template), raw["v_template"].astype(np.float32))
  out = _fwd_amass(
    params,
    root_orient=jnp.asarray(inputs["global_orient"], jnp.float32),
    pose_body=jnp.asarray(inputs["body_pose"], jnp.float32),
    trans=jnp.asarray(inputs["transl"], jnp.float32),
    betas=jnp.asarray(inputs["betas"], jnp.float32),
  )
  assert out.vertices.dtype == jnp.float32
  assert np.abs(np.asarray(out.vertices) - ref_v).max() < 1e-5
  assert np.abs(np.asarray(out.joints) - ref_j).max() < 1e-5


def test_smplh_63_body_pose_zero_pads_hands(model_pkl):
  params = smpl.load_smpl_model(model_pkl)
  rng = np.random.default_rng(3)
  body63 = jnp.asarray(rng.normal(0, 0.4, (4, 63)), jnp.float32)
  root = jnp.asarray(rng.normal(0, 0.4, (4, 3)), jnp.float32)
  full = smpl.amass_full_pose(params, root, body63)
  assert full.shape == (4, 72)
  np.testing.assert_array_equal(full[:, :3], root)
  np.testing.assert_array_equal(full[:, 3:66], body63)
  np.testing.assert_array_equal(full[:, 66:], 0.0)  # SMPL hand joints 22, 23: identity
  with pytest.raises(ValueError, match="only 72"):  # SMPL-H hand pose on a 24-joint model
    smpl.amass_full_pose(params, root, body63, jnp.zeros((4, 90)))


def test_vmap_and_rest_pose_identity(model_pkl):
  params = smpl.load_smpl_model(model_pkl)
  betas = jnp.zeros((3, 10))
  pose = jnp.zeros((3, 72))
  out = jax.jit(jax.vmap(smpl.smpl_forward, in_axes=(None, 0, 0)))(params, betas, pose)
  np.testing.assert_allclose(out.vertices[1], params.v_template, atol=1e-6)
  np.testing.assert_allclose(out.joints[0], params.j_regressor @ params.v_template, atol=1e-6)
  # Rodrigues is exact and differentiable at zero (the rest pose).
  np.testing.assert_array_equal(smpl.axis_angle_to_matrix(jnp.zeros(3)), np.eye(3))
  g = jax.jacfwd(smpl.axis_angle_to_matrix)(jnp.zeros(3))
  assert np.all(np.isfinite(np.asarray(g)))
  np.testing.assert_allclose(g[:, :, 2], [[0, -1, 0], [1, 0, 0], [0, 0, 0]], atol=1e-7)


def test_bad_inputs(model_pkl, tmp_path):
  params = smpl.load_smpl_model(model_pkl)
  with pytest.raises(ValueError, match="full_pose"):
    smpl.smpl_forward(params, jnp.zeros(10), jnp.zeros(70))
  with pytest.raises(ValueError, match="pose_body"):
    smpl.smpl_forward_amass(params, jnp.zeros(3), jnp.zeros(60), jnp.zeros(3), jnp.zeros(10))
  bad = tmp_path / "bad.npz"
  np.savez(bad, v_template=np.zeros((5, 3)))
  with pytest.raises(smpl.SMPLFormatError, match="bad.npz.*missing keys"):
    smpl.load_smpl_model(bad)


def test_jitted_forward_does_not_recompile(model_pkl):
  params = smpl.load_smpl_model(model_pkl)
  fwd = jax.jit(smpl.smpl_forward)
  rng = np.random.default_rng(4)
  sizes = []
  for _ in range(3):
    out = fwd(
      params,
      jnp.asarray(rng.normal(size=(2, 10)), jnp.float32),
      jnp.asarray(rng.normal(size=(2, 72)), jnp.float32),
      jnp.asarray(rng.normal(size=(2, 3)), jnp.float32),
    )
    out.vertices.block_until_ready()
    sizes.append(fwd._cache_size())
  assert sizes[0] == sizes[1] == sizes[2]


def test_smplh_amass_split_matches_smplx_smplh_float64(tmp_path):
  """52-joint SMPL-H: root_orient (3) + pose_body (63) + pose_hand (90), as stored by AMASS."""
  path = tmp_path / "SMPLH_NEUTRAL.pkl"
  smpl.make_synthetic_smpl_model(seed=1, path=path, model_type="smplh", ring=6, rings_per_bone=1)
  rng = np.random.default_rng(5)
  inputs = dict(
    betas=rng.normal(0, 1, (N_SAMPLES, 10)),
    global_orient=rng.normal(0, 0.8, (N_SAMPLES, 3)),
    body_pose=rng.normal(0, 0.5, (N_SAMPLES, 63)),
    left_hand_pose=rng.normal(0, 0.5, (N_SAMPLES, 45)),
    right_hand_pose=rng.normal(0, 0.5, (N_SAMPLES, 45)),
    transl=rng.normal(0, 0.5, (N_SAMPLES, 3)),
  )
  # AMASS hand poses are full axis-angle: no PCA, no added hand mean.
  model = smplx.SMPLH(
    str(path),
    vertex_ids=_VERTEX_IDS,
    batch_size=N_SAMPLES,
    use_pca=False,
    flat_hand_mean=True,
    dtype=torch.float64,
  )
  with torch.no_grad():
    ref = model(**{k: torch.tensor(v, dtype=torch.float64) for k, v in inputs.items()})
  with jax.enable_x64(True):
    params = smpl.load_smpl_model(path, dtype=np.float64)
    assert params.parents == smpl.SMPLH_PARENTS and params.posedirs.shape[-1] == 459
    hands = np.concatenate([inputs["left_hand_pose"], inputs["right_hand_pose"]], axis=1)
    out = jax.jit(smpl.smpl_forward_amass)(
      params,
      jnp.asarray(inputs["global_orient"]),
      jnp.asarray(inputs["body_pose"]),
      jnp.asarray(inputs["transl"]),
      jnp.asarray(inputs["betas"]),
      jnp.asarray(hands),
    )
    err_v = np.abs(np.asarray(out.vertices) - ref.vertices.numpy()).max()
    err_j = np.abs(np.asarray(out.joints) - ref.joints[:, :52].numpy()).max()
  print(f"SMPL-H float64 max abs error: vertices {err_v:.2e}, joints {err_j:.2e}")
  assert err_v < 1e-5 and err_j < 1e-5
