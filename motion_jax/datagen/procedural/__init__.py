"""The embedded default text-motion dataset: procedural clips on the t2m skeleton.

* :mod:`.body`: rest pose, rotations, two-bone leg IK, :class:`~.body.BodyPlan` -> joints.
* :mod:`.actions`: 18 parametric motion primitives (walk, run, jump, ... stretch).
* :mod:`.captions`: captions (generator 1.x), KinMo group/interaction descriptions, ``lemma/POS``
  tokens (the lexicon covers both versions).
* :mod:`.moves`: 9 more primitives of generator 2.x (throw, pick up, bow, clap, ...).
* :mod:`.sequence`: generator 2.x clips, 1-4 actions with stepped transitions and style.
* :mod:`.language`: generator 2.x captions (templates per action, connectives) and per-segment
  KinMo text.
* :mod:`.build`: the dataset in the HumanML3D layout
  (``python -m motion_jax.datagen.procedural.build``), :func:`~.build.ensure_dataset`, readers with
  clear errors.
* :mod:`.stats`: statistics, figure and physics table of ``data/text_motion/README.md``.
"""

# Re-exported lazily (PEP 562): importing a submodule such as `captions` must not import `build`,
# which itself imports `motion_jax.datagen.retarget` (that imports `captions`). The ``build``
# function stays in :mod:`.build`: re-exporting it here would shadow the module.
_FROM_BUILD = (
  "DEFAULT_ROOT",
  "DatasetError",
  "ensure_dataset",
  "load_clip",
  "read_split",
  "read_texts",
)


def __getattr__(name):
  if name in _FROM_BUILD:
    from motion_jax.datagen.procedural import build

    return getattr(build, name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_FROM_BUILD)
