"""Shared base of motion_jax's TFDS builders: ArrayRecord output, no TensorFlow needed.

Read any subclass with ``builder.as_data_source()[split]``.
"""

from __future__ import annotations

import inspect
import shutil
import uuid
from pathlib import Path

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

  @classmethod
  def prepare_from(cls, data_dir, config: str, manual_dir, *, overwrite: bool = False):
    """Build (or reuse) ``<name>/<config>`` under `data_dir` from `manual_dir`; a reading builder.

    With `overwrite` the new build goes to a staging data dir first and replaces the old version
    folder only when it succeeded, so a failed rebuild leaves the old dataset readable (unlike
    TFDS's ``FORCE_REDOWNLOAD``).
    """
    _keep_shuffle_in_memory()
    data_dir = Path(data_dir)
    builder = cls(data_dir=str(data_dir), config=config)
    dl_config = tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    if not overwrite or not builder.data_path.exists():
      builder.download_and_prepare(download_config=dl_config)
      return builder
    staging = data_dir / f".staging-{uuid.uuid4().hex[:8]}"
    try:
      staged = cls(data_dir=str(staging), config=config)
      staged.download_and_prepare(download_config=dl_config)
      final = Path(builder.data_path)
      old = final.with_name(f".old-{uuid.uuid4().hex[:8]}-{final.name}")
      final.rename(old)
      Path(staged.data_path).rename(final)
      shutil.rmtree(old)
    finally:
      shutil.rmtree(staging, ignore_errors=True)
    return cls(data_dir=str(data_dir), config=config)


# TFDS sorts the examples of a split by key hash in memory up to 1 GB, then spills to 1000 bucket
# files written through `tf.io.gfile`, i.e. it needs TensorFlow, which this project does not
# install (a 10,000-clip procedural build has ~1.5 GB of features). The limit is raised instead:
# the order (hash-sorted) is the same, only the buffer stays in memory.
SHUFFLE_MEMORY_BYTES = 32 << 30


def _keep_shuffle_in_memory() -> None:
  from tensorflow_datasets.core import shuffle

  shuffle.MAX_MEM_BUFFER_SIZE = max(shuffle.MAX_MEM_BUFFER_SIZE, SHUFFLE_MEMORY_BYTES)
