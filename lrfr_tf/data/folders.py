"""Identity-per-folder image datasets (LFW, CelebA, CASIA-WebFace layout).

``root/<identity>/<image>.{jpg,jpeg,png}``: one folder per identity. Labels
come from a label map (identity name -> id). By default it is built from the
sorted folder names, so it is stable across machines and file-system orders;
``save_label_map`` / ``load_label_map`` store it as JSON so that a map from
training can be reused for another split or a resumed run.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from lrfr_tf.data.images import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)

LABEL_MAP_FORMAT = "lrfr_tf.label_map"

LabelMapArg = Optional[Union[str, os.PathLike, Mapping[str, int], Sequence[str]]]


def save_label_map(class_names: Sequence[str], path: Union[str, os.PathLike]) -> None:
    """Write a label map (id i -> ``class_names[i]``) as JSON."""
    data = {"format": LABEL_MAP_FORMAT, "num_classes": len(class_names), "class_names": list(class_names)}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=0)
        f.write("\n")


def load_label_map(path: Union[str, os.PathLike]) -> List[str]:
    """Read a JSON label map written by ``save_label_map`` -> class names in id order."""
    path = os.fspath(path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such label map file") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path}: not a JSON label map ({e})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a UTF-8 JSON label map (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    if not isinstance(data, dict) or data.get("format") != LABEL_MAP_FORMAT or not isinstance(data.get("class_names"), list):
        raise ValueError(f"{path}: not a lrfr_tf label map (expected {{'format': {LABEL_MAP_FORMAT!r}, 'class_names': [...]}})")
    names = data["class_names"]
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ValueError(f"{path}: class_names must be distinct strings")
    if not names:
        raise ValueError(f"{path}: the label map has no class names")
    if data.get("num_classes", len(names)) != len(names):
        raise ValueError(f"{path}: num_classes {data['num_classes']!r} != {len(names)} class names")
    return names


def _class_names_from(label_map: LabelMapArg) -> List[str]:
    """A label map given as a JSON path, a name->id mapping or a name list -> names in id order."""
    if isinstance(label_map, (str, os.PathLike)):
        return load_label_map(label_map)
    if isinstance(label_map, Mapping):
        names = sorted(label_map, key=lambda n: label_map[n])
        if [label_map[n] for n in names] != list(range(len(names))):
            raise ValueError("label_map ids must be 0..N-1, each used once")
        return names
    names = list(label_map)
    if len(set(names)) != len(names):
        raise ValueError("label_map names must be distinct")
    return names


class IdentityFolder:
    """Images under ``root/<identity>/`` with integer labels.

    Args:
      root: dataset directory.
      label_map: reuse a label map (JSON path, name->id mapping or list of names
        in id order) instead of building one from the sorted folder names. A
        folder whose identity is not in the map is an error; identities of the
        map without a folder keep their ids (``num_classes`` is the map's size).
      empty: "error" (default) raises ValueError naming the first identity folder
        with no image; "skip" leaves such folders out, records them in
        ``skipped_folders`` and logs a warning with their count.
      extensions: image file endings to take (case-insensitive). Other files
        are ignored and counted in ``ignored_files``.
      identities: "all" (default), or "train" / "holdout": only the identities of that side of the fixed
        name-hash split (``lrfr_tf.data.splits``), so a model trained on "train" can be tested on identities
        it never saw.

    Attributes: root, paths (full paths, sorted by identity then file name),
    labels (int32 [N]), class_names (id order), num_classes, label_map (name -> id).
    """

    def __init__(
        self,
        root: Union[str, os.PathLike],
        label_map: LabelMapArg = None,
        empty: str = "error",
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        identities: str = "all",
    ):
        from lrfr_tf.data.splits import select_identities

        if empty not in ("error", "skip"):
            raise ValueError(f"empty must be 'error' or 'skip', got {empty!r}")
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"{self.root}: no such dataset directory")
        extensions = tuple(e.lower() for e in extensions)
        folders = sorted(e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith("."))
        if not folders:
            hint = ""
            if os.path.isfile(os.path.join(self.root, "dataset.json")):
                hint = "; it holds a packed TFRecord dataset: read it with lrfr_tf.data.tfrecord.TFRecordSource"
            raise ValueError(f"{self.root}: no identity folders (expected root/<identity>/<image>){hint}")
        self.identities = identities
        folders = select_identities(folders, identities, what=self.root)
        self.class_names = _class_names_from(label_map) if label_map is not None else folders
        self.label_map: Dict[str, int] = {name: i for i, name in enumerate(self.class_names)}
        unknown = [f for f in folders if f not in self.label_map]
        if unknown:
            raise ValueError(
                f"{self.root}: {len(unknown)} identity folder(s) are not in the given label map: "
                + ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            )
        self.paths: List[str] = []
        labels: List[int] = []
        self.skipped_folders: List[str] = []
        self.ignored_files: List[str] = []
        for name in folders:
            folder = os.path.join(self.root, name)
            files = []
            for entry in os.scandir(folder):
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                if entry.name.lower().endswith(extensions):
                    files.append(entry.name)
                else:
                    self.ignored_files.append(entry.path)
            if not files:
                if empty == "error":
                    raise ValueError(
                        f"{folder}: identity folder has no image files ({', '.join(extensions)}); "
                        f"remove it or pass empty='skip'"
                    )
                self.skipped_folders.append(folder)
                continue
            label = self.label_map[name]
            for fname in sorted(files):
                self.paths.append(os.path.join(folder, fname))
                labels.append(label)
        if self.skipped_folders:
            logger.warning("%s: skipped %d empty identity folder(s): %s", self.root, len(self.skipped_folders),
                           ", ".join(os.path.basename(f) for f in self.skipped_folders[:20]))
        if self.ignored_files:
            logger.info("%s: ignored %d non-image file(s), e.g. %s", self.root, len(self.ignored_files), self.ignored_files[0])
        if not self.paths:
            raise ValueError(f"{self.root}: no image files in any identity folder")
        self.labels = np.asarray(labels, np.int32)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"IdentityFolder({self.root!r}: {len(self)} images, {self.num_classes} identities)"

    def relative_paths(self) -> List[str]:
        """Paths relative to ``root`` with '/' separators (``identity/file``)."""
        return [os.path.relpath(p, self.root).replace(os.sep, "/") for p in self.paths]

    def save_label_map(self, path: Union[str, os.PathLike]) -> None:
        save_label_map(self.class_names, path)
