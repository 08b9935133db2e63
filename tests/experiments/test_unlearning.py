"""End-to-end test of the unlearning experiment (tiny preset): MoMask trained through momask's
stages, LCR and random replacement at r in {2, 4}, the table, the classifier's ridge weight chosen
on the val split; then, in-process from that workdir, that the selection is reproduced from the
val split alone, that the recorded codes are LCR's on the real counts, that an edited codebook
differs from the original exactly at them, that decoding the original model's indices with it
equals generating with the edited model, and that r = 0 generates exactly the original model's
motions."""

import json

import jax
import numpy as np
import pytest

from experiments import momask as momask_exp
from experiments import unlearning
from motion_jax.config import from_dict
from motion_jax.metrics import action_recognition as ar
from motion_jax.stages import momask as stage
from motion_jax.unlearning import lcr
from tests.conftest import run_python


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("unlearning_tiny")
  run_python(["launch.py", "--experiment=unlearning:tiny", f"--workdir={workdir}"], timeout=900)
  return workdir


def test_tiny_run_writes_the_table(trained):
  res = json.loads((trained / "results.json").read_text())
  assert res["kind"] == "unlearning"
  assert set(res["summary"]) == {"original", "lcr r=2", "lcr r=4", "random r=2", "random r=4"}
  assert res["sets"]["forget_prompts"] >= res["sets"]["forget_clips"] >= 1
  assert res["sets"]["count_forget"] >= 1 and res["sets"]["count_retain"] >= 1
  assert {"kick", "punch"} <= set(res["sets"]["actions"])
  orig = res["summary"]["original"]
  assert orig["delta_fid"] == 0 and orig["retain_fid"] > 0
  for row in res["rows"][1:]:
    assert list(row["replaced"]) == ["0"]  # the base layer only (default)
    codes = row["replaced"]["0"]
    assert len(codes) == row["r"] == len(set(codes))
  for s in res["summary"].values():
    assert 0 <= s["recognised"] <= 1 and 0 <= s["retrieval_top1"] <= s["retrieval_top3"] <= 1
  assert [v["r"] for v in res["verdict"]] == [2, 4]
  sel = res["classifier"]  # chosen on generated val clips, never the test split
  assert sel["val_split"] == "val" != res["sets"]["split"]
  assert sel["l2s"] == list(unlearning.Config().classifier_l2s) and sel["val_clips"] >= 1
  assert sel["l2"] == sel["l2s"][int(np.argmax(sel["val_generated"]))]
  assert all(0 <= a <= 1 for a in sel["val_generated"] + sel["val_real"])
  md = (trained / "results.md").read_text()
  assert f"Chosen l2 = {sel['l2']:g}" in md
  assert "| lcr r=4 |" in md and "| random r=2 |" in md and "| original |" in md
  assert (trained / "unlearning.png").stat().st_size > 0
  # momask's stages were trained under their own names (a momask workdir would be reused); the
  # length estimator is not (unlearning samples at given lengths)
  for name in ("rvq", "momask_base", "momask_residual"):
    assert (trained / name / "stage.json").exists()
  assert not (trained / "momask_length").exists()


def test_edits_and_generation_from_the_trained_workdir(trained):
  config = from_dict(unlearning.Config, unlearning.get_config("tiny"))
  mc = config.momask
  t = momask_exp.train_stages(mc, trained, {}, length_estimator=False)  # loads, trains nothing
  data = t.data
  labels = unlearning.clip_actions(data.root, data.sources["train"])
  idx, valid, x, frame_mask = unlearning.encode_split(t.rvq_model, t.rvq_vars, data, "train",
                                             mc.data.max_length)  # fmt: skip
  forget = np.asarray([bool({"kick", "punch"} & set(a)) for a in labels])
  res = json.loads((trained / "results.json").read_text())
  row = next(r for r in res["rows"] if r["method"] == "lcr" and r["r"] == 4)
  key = jax.random.fold_in(jax.random.PRNGKey(row["seed"]), 4)
  edited, chosen = lcr.unlearn_rvq(t.rvq_vars, idx[forget], valid[forget], idx[~forget],
                                   valid[~forget], 4, key, config.lcr)  # fmt: skip
  assert chosen[0].tolist() == row["replaced"]["0"]
  old, new = lcr.get_codebook(t.rvq_vars, 0), lcr.get_codebook(edited, 0)
  np.testing.assert_array_equal(np.flatnonzero(np.any(old != new, 1)), np.sort(chosen[0]))
  for layer in range(1, mc.rvq.model.num_quantizers):
    assert lcr.get_codebook(edited, layer) is lcr.get_codebook(t.rvq_vars, layer) or np.array_equal(
      lcr.get_codebook(edited, layer), lcr.get_codebook(t.rvq_vars, layer)
    )

  def generator(variables):
    return stage.Generator(t.rvq_model, variables, t.base_params, t.res_params, mc.model, t.feats,
                           data.mean, data.std, max_frames=mc.data.max_length,
                           chunk=mc.eval.chunk)  # fmt: skip

  # the ridge weight and its validation accuracies come from the val split alone
  _, sel = unlearning.select_classifier(config, data, generator(t.rvq_vars), labels,
                                        res["sets"]["actions"],
                                        ar.pooled_features(x, frame_mask))  # fmt: skip
  assert sel == res["classifier"]

  pairs = [data.sources["train"][i] for i in range(3)]
  texts = [p["captions"][0].decode() for p in pairs]
  lengths = [min(int(p["length"]), mc.data.max_length) for p in pairs]
  gkey = jax.random.PRNGKey(5)
  base, codes = generator(t.rvq_vars).generate(texts, lengths, gkey, return_codes=True)
  # r = 0 leaves the model as it was: the same motions, exactly
  same, _ = lcr.unlearn_rvq(t.rvq_vars, idx[forget], valid[forget], idx[~forget], valid[~forget],
                            0, key, config.lcr)  # fmt: skip
  for a, b in zip(base, generator(same).generate(texts, lengths, gkey)):
    np.testing.assert_array_equal(a, b)
  # the edited model samples the same indices; only their decoding changes
  direct, codes_e = generator(edited).generate(texts, lengths, gkey, return_codes=True)
  np.testing.assert_array_equal(codes, codes_e)
  bank = unlearning.CodeBank(generator(t.rvq_vars), 0)
  replay = unlearning.decode_codes(bank.generator, bank.decode_fn, edited, codes, lengths)
  for a, b in zip(direct, replay):
    np.testing.assert_allclose(a, b, atol=1e-5)
  uses = np.isin(codes[..., 0], chosen[0]).any()
  if uses:  # the replaced codes change the motions that use them
    assert any(not np.allclose(a, b) for a, b in zip(base, direct))
