"""Verified checkpoints and the workdir lock.

``CheckpointStore`` replaces ``tf.train.CheckpointManager`` for the engine because a manager trusts its
``checkpoint`` state file: with the newest ``.index`` deleted it restarts from step 0 and then rotates the
intact older checkpoints away, and a garbled state file raises a parse error. Here:

* the checkpoints are the ``ckpt-<step>.index`` files on disk (the state file is only rewritten, for
  ``tf.train.latest_checkpoint`` users, never trusted);
* ``verify`` reads every tensor of a checkpoint, so TF checks each one's stored CRC32C (a truncated or
  bit-flipped ``.data`` file, a missing shard or a damaged ``.index`` is found before anything is restored);
* resuming takes the newest intact checkpoint; a damaged newer one is moved to ``damaged/`` with a warning
  naming it; a directory that holds checkpoints but none intact is an error unless ``restart`` is set;
* a new checkpoint is verified before any older one is deleted, and only checkpoints older than the newest
  verified one are rotated away (``keep`` of them stay).

``WorkdirLock``: an exclusive ``fcntl`` lock on ``<workdir>/.lock`` holding the owner's PID. The kernel
drops it when the process dies (also on SIGKILL), so a stale lock never blocks a resume.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import time
from typing import List, Optional, Tuple

import tensorflow as tf

logger = logging.getLogger(__name__)

_INDEX = re.compile(r"^(?P<name>.+)-(?P<step>\d+)\.index$")
_DATA = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


class CheckpointError(RuntimeError):
    """The workdir's checkpoints cannot be used as they are; the message says what to do."""


class WorkdirInUseError(RuntimeError):
    """Another training holds the workdir's lock."""


def checkpoint_steps(directory: str, name: str = "ckpt") -> List[Tuple[int, str]]:
    """(step, prefix) of every checkpoint with an ``.index`` file, newest first."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(directory), f"{name}-*.index")):
        m = _INDEX.match(os.path.basename(path))
        if m and m.group("name") == name:
            found.append((int(m.group("step")), path[: -len(".index")]))
    return sorted(found, reverse=True)


def orphan_steps(directory: str, name: str = "ckpt") -> List[int]:
    """Steps that have ``.data`` files but no ``.index`` (a checkpoint whose index was lost)."""
    with_index = {s for s, _ in checkpoint_steps(directory, name)}
    steps = set()
    for path in glob.glob(os.path.join(glob.escape(directory), f"{name}-*.data-*")):
        m = re.match(rf"^{re.escape(name)}-(\d+)\.data-", os.path.basename(path))
        if m and int(m.group(1)) not in with_index:
            steps.add(int(m.group(1)))
    return sorted(steps, reverse=True)


def verify(prefix: str) -> Optional[str]:
    """None if the checkpoint at ``prefix`` is intact, else why not (one line).

    Checks the index parses, every data shard it names exists, and every tensor reads back with its
    stored CRC32C (TF's bundle reader checks it on each read).
    """
    if not os.path.isfile(prefix + ".index"):
        return "its .index file is missing"
    shards = glob.glob(glob.escape(prefix) + ".data-*")
    counts = {_DATA.search(s).group(2) for s in shards if _DATA.search(s)}
    if not shards or len(counts) != 1:
        return "its .data file is missing" if not shards else "its .data shards disagree on their count"
    expected = int(counts.pop())
    if len(shards) != expected:
        return f"{expected - len(shards)} of its {expected} .data shard(s) are missing"
    try:
        reader = tf.train.load_checkpoint(prefix)
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except Exception as e:  # noqa: BLE001 - any failure to read back is damage (DataLossError, IndexError, ...)
        message = getattr(e, "message", str(e)).strip().splitlines()
        return f"it cannot be read ({type(e).__name__}: {message[0][:200] if message else ''})"
    return None


class CheckpointStore:
    """Saves, verifies, rotates and restores the checkpoints of one ``tf.train.Checkpoint``.

    ``directory`` is where checkpoints are written; ``read_directory`` (default: the same) where they are
    restored from (non-chief workers restore the chief's and write scratch copies of their own).
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, keep: int, name: str = "ckpt",
                 read_directory: Optional[str] = None, owner: bool = True):
        if int(keep) < 1:
            raise ValueError(f"checkpoint.keep must be >= 1, got {keep}")
        self.checkpoint = checkpoint
        _ = checkpoint.save_counter  # created now, so that every written checkpoint holds it (restores match)
        self.directory = directory
        self.read_directory = read_directory or directory
        self.keep = int(keep)
        self.name = name
        self.owner = owner  # only the owner moves, deletes or rewrites files in read_directory
        self.latest: Optional[str] = None  # the newest verified checkpoint (written or restored)

    # Restoring ---------------------------------------------------------------------------------
    def restore(self, restart: bool = False) -> Optional[str]:
        """Restore the newest intact checkpoint; returns its prefix, or None to start from scratch.

        Damaged newer checkpoints are set aside with a warning. Raises CheckpointError when the directory
        holds checkpoints but none is intact, unless ``restart``; with ``restart`` every existing
        checkpoint is moved to ``previous-<time>/`` and None is returned.
        """
        directory = self.read_directory
        if not os.path.isdir(directory):
            return None
        if self.owner:
            self._remove_partial_writes()
        candidates = checkpoint_steps(directory, self.name)
        orphans = orphan_steps(directory, self.name)
        if restart:
            if candidates or orphans:
                aside = self._move_aside(f"previous-{time.strftime('%Y%m%d-%H%M%S')}", None)
                logger.warning("checkpoint.restart=true: starting from step 0; the %d earlier checkpoint(s) "
                               "were moved to %s", len(candidates) + len(orphans), aside)
            return None
        damaged = [(f"{self.name}-{s}", "its .index file is missing") for s in orphans
                   if not candidates or s > candidates[0][0]]
        for step, prefix in candidates:
            problem = verify(prefix)
            if problem is None:
                for bad, why in damaged:
                    logger.warning("checkpoint %s is damaged (%s); resuming from the newest intact one, %s",
                                   os.path.join(directory, bad), why, prefix)
                    if self.owner:
                        self._move_aside("damaged", bad)
                self.checkpoint.restore(prefix).assert_existing_objects_matched()
                self.latest = prefix
                if self.owner and damaged:
                    self._write_state()
                return prefix
            damaged.append((os.path.basename(prefix), problem))
        if damaged:
            listing = "; ".join(f"{os.path.join(directory, n)}: {why}" for n, why in damaged)
            raise CheckpointError(
                f"{directory} holds checkpoints but none is intact ({listing}). Nothing was changed. To start "
                f"over from step 0, pass --config.checkpoint.restart=true (they are moved aside, not deleted), "
                f"or use another --workdir")
        return None

    # Saving ------------------------------------------------------------------------------------
    def save(self, step: int) -> str:
        """Write ``ckpt-<step>``, verify it, then rotate; returns its prefix. A write that fails (disk full,
        read-only) raises OSError naming the directory; the earlier checkpoints are untouched."""
        os.makedirs(self.directory, exist_ok=True)
        prefix = os.path.join(self.directory, f"{self.name}-{int(step)}")
        try:
            written = self.checkpoint.write(prefix)
        except (tf.errors.OpError, OSError) as e:
            self._remove_partial_writes(prefix)
            message = getattr(e, "message", str(e)).strip().splitlines()
            raise OSError(f"could not write checkpoint {prefix} ({message[0][:200] if message else e}); "
                          f"the last good checkpoint is {self.latest or 'none'} (kept)") from None
        problem = verify(written)
        if problem is not None:
            raise OSError(f"checkpoint {written} did not verify after writing ({problem}); "
                          f"the last good checkpoint is {self.latest or 'none'} (kept)")
        self.latest = written
        if self.directory == self.read_directory and self.owner:
            self._write_state()
            self._rotate()
        return written

    # Housekeeping ------------------------------------------------------------------------------
    def _rotate(self) -> None:
        """Delete all but the ``keep`` newest checkpoints, never one newer than the newest verified one."""
        latest_step = int(self.latest.rsplit("-", 1)[1])
        older = [(s, p) for s, p in checkpoint_steps(self.directory, self.name) if s <= latest_step]
        stale = [p for _, p in older[self.keep:]]
        stale += [os.path.join(self.directory, f"{self.name}-{s}") for s in orphan_steps(self.directory, self.name)
                  if s < latest_step]  # data left by a rotation that was interrupted
        for prefix in stale:
            for path in glob.glob(glob.escape(prefix) + ".index") + glob.glob(glob.escape(prefix) + ".data-*"):
                os.remove(path)

    def _write_state(self) -> None:
        """Rewrite the ``checkpoint`` state file from the files on disk (for tf.train.latest_checkpoint)."""
        # Names relative to the folder (TF joins them back): no machine path in the file, and the run can move.
        paths = [os.path.basename(p) for _, p in reversed(checkpoint_steps(self.read_directory, self.name))]
        state = os.path.join(self.read_directory, "checkpoint")
        try:
            tf.compat.v1.train.update_checkpoint_state(self.read_directory, os.path.basename(self.latest),
                                                       all_model_checkpoint_paths=paths)
        except tf.errors.OpError as e:
            raise OSError(f"could not write {state}: {e.message}") from None

    def _move_aside(self, folder: str, stem: Optional[str]) -> str:
        """Move checkpoint files (all, or those of ``stem``) and the state file into ``folder``."""
        target = os.path.join(self.read_directory, folder)
        os.makedirs(target, exist_ok=True)
        pattern = f"{stem}." if stem else f"{self.name}-"
        for entry in os.listdir(self.read_directory):
            if entry.startswith(pattern) or (stem is None and entry == "checkpoint"):
                shutil.move(os.path.join(self.read_directory, entry), os.path.join(target, entry))
        return target

    def _remove_partial_writes(self, prefix: Optional[str] = None) -> None:
        """Delete the temporary folders of interrupted writes (``<prefix>_temp*``)."""
        pattern = (glob.escape(prefix) if prefix else os.path.join(glob.escape(self.read_directory), "*")) + "_temp*"
        for path in glob.glob(pattern):
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)


class WorkdirLock:
    """An exclusive lock on ``<workdir>/.lock`` (PID inside); ``acquire`` raises WorkdirInUseError."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, ".lock")
        self._fd: Optional[int] = None

    def acquire(self) -> "WorkdirLock":
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise WorkdirInUseError(
                f"{os.path.dirname(self.path)} is in use by another training ({owner}); wait for it to finish "
                f"or pass another --workdir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"PID {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
