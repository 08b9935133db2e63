"""Shared base of motion_jax's TFDS builders: ArrayRecord output, no TensorFlow needed.

Read any subclass with ``builder.as_data_source()[split]``.
"""

from __future__ import annotations

import inspect

import tensorflow_datasets as tfds
from etils import epath


class ArrayRecordBuilder(tfds.core.GeneratorBasedBuilder):
  """Writes array_record by default and locates its code without `importlib_resources`.

  Abstract (no `_info`/`_split_generators`/`_generate_examples`), so TFDS does not register it.
  """

  DEFAULT_FILE_FORMAT = "array_record"

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    # TFDS 4.9.10's default probes `importlib_resources` (a backport it declares only for
    # Python < 3.9, so not installed here); the defining file of the subclass is all it needs.
    return epath.Path(inspect.getfile(cls))

  def __init__(self, *, file_format=None, **kwargs):
    super().__init__(file_format=file_format or self.DEFAULT_FILE_FORMAT, **kwargs)
