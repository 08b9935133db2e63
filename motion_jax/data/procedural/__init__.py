"""The embedded default text-motion dataset: procedural clips on the t2m skeleton.

* :mod:`.body`: rest pose, rotations, two-bone leg IK, :class:`~.body.BodyPlan` -> joints.
* :mod:`.actions`: 18 parametric motion primitives (walk, run, jump, ... stretch).
* :mod:`.captions`: captions, KinMo group/interaction descriptions, ``lemma/POS`` tokens.
* :mod:`.build`: the dataset in the HumanML3D layout
  (``python -m motion_jax.data.procedural.build``), :func:`~.build.ensure_dataset`, readers with
  clear errors.
* :mod:`.stats`: statistics, figure and physics table of ``data/text_motion/README.md``.
"""

# (The ``build`` function stays in :mod:`.build`: re-exporting it here would shadow the module.)
from motion_jax.data.procedural.build import (
  DEFAULT_ROOT,
  DatasetError,
  ensure_dataset,
  load_clip,
  read_split,
  read_texts,
)

__all__ = [
  "DEFAULT_ROOT",
  "DatasetError",
  "ensure_dataset",
  "load_clip",
  "read_split",
  "read_texts",
]
