"""A TF Serving model base path: numeric version folders, the newest loaded and served, the folder polled
for new versions like TF Serving's ``--file_system_poll_wait_seconds``.

A folder counts as a version when its name is a number and it holds ``saved_model.pb`` (or ``.pbtxt``);
anything else (``.3``, ``tmp-3``, a folder still being written) is ignored. New versions load on the
polling thread and are swapped in atomically; the versions they replace are unloaded afterwards. A
version that fails to load is logged, reported by the status API, and skipped until its files change;
whatever was being served stays served.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from lrfr_tf.cli_errors import one_line
from lrfr_tf.serve.serving_errors import from_exception, invalid_argument, not_found
from lrfr_tf.serve.signature_info import Signature, signature_defs_json, signatures_from_meta_graph

log = logging.getLogger("lrfr_tf.serve")

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


class Servable:
    """One loaded version of a model: its signatures and the functions that run them."""

    def __init__(self, name: str, version: int, path: str, signatures: Dict[str, Signature],
                 signature_defs: dict, functions: dict, keep_alive=None):
        self.name = name
        self.version = version
        self.path = path
        self.signatures = signatures
        self.signature_defs = signature_defs  # TF Serving's metadata JSON layout
        self._functions = functions
        self._keep_alive = keep_alive  # the loaded SavedModel object the functions belong to

    def signature(self, name: str) -> Signature:
        """The named signature; INVALID_ARGUMENT, in TF Serving's words, when the model has none by that name."""
        if name not in self.signatures:
            raise invalid_argument(f'Serving signature name: "{name}" not found in signature def')
        return self.signatures[name]

    def run(self, signature_name: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Call a signature on NumPy inputs; its outputs as NumPy arrays."""
        function = self._functions.get(signature_name)
        if function is None:
            raise invalid_argument(f'Signature "{signature_name}" of this SavedModel cannot be called')
        import tensorflow as tf

        outputs = function(**{name: tf.constant(value) for name, value in inputs.items()})
        return {name: tensor.numpy() for name, tensor in outputs.items()}


def load_saved_model(name: str, version: int, path: str) -> Servable:
    """Load the SavedModel in ``path`` (its ``serve`` MetaGraph when it has several)."""
    import tensorflow as tf
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    binary = os.path.join(path, "saved_model.pb")
    if os.path.isfile(binary):
        with open(binary, "rb") as f:
            saved_model.ParseFromString(f.read())
    else:
        with open(os.path.join(path, "saved_model.pbtxt"), encoding="utf-8") as f:
            text_format.Parse(f.read(), saved_model)
    if not saved_model.meta_graphs:
        raise ValueError(f"{path}: the SavedModel has no MetaGraph")
    graphs = [g for g in saved_model.meta_graphs if "serve" in g.meta_info_def.tags] or list(saved_model.meta_graphs)
    meta_graph = graphs[0]
    loaded = tf.saved_model.load(path, tags=list(meta_graph.meta_info_def.tags) or None)
    functions = {key: loaded.signatures[key] for key in loaded.signatures.keys()}
    return Servable(name, version, path, signatures_from_meta_graph(meta_graph),
                    signature_defs_json(meta_graph), functions, keep_alive=loaded)


@dataclasses.dataclass(frozen=True)
class VersionState:
    """A version's state as TF Serving's status API reports it (ModelVersionStatus)."""

    state: str  # LOADING, AVAILABLE, UNLOADING or END
    error_code: str = "OK"
    error_message: str = ""


def _files_fingerprint(path: str) -> Tuple:
    """Names, sizes and modification times of every file under ``path``: changes when the folder does."""
    entries = []
    for root, _, files in os.walk(path):
        for file in files:
            full = os.path.join(root, file)
            try:
                stat = os.stat(full)
            except OSError:
                continue
            entries.append((os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


class ModelVersions:
    """The versions of one model under ``base_path``: the newest ``num_versions`` loadable ones are served."""

    def __init__(self, base_path: str, name: Optional[str] = None, poll_seconds: float = 1.0,
                 num_versions: int = 1, loader: Callable[[str, int, str], Servable] = load_saved_model):
        self.base_path = os.path.abspath(base_path)
        self.name = name or os.path.basename(os.path.normpath(self.base_path))
        self.poll_seconds = poll_seconds
        self.num_versions = num_versions
        self._loader = loader
        self._served: Dict[int, Servable] = {}  # replaced whole on every change, never mutated
        self._states: Dict[int, VersionState] = {}
        self._failed: Dict[int, Tuple] = {}  # version -> files fingerprint when it failed to load
        self._listing_problem: Optional[str] = None
        self._state_lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # ---- lifecycle

    def start(self) -> None:
        """Load what is there now (blocking), then keep polling in the background (unless polling is 0)."""
        self.poll()
        if self.poll_seconds > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll_forever, name="lrfr_tf.serve.model_versions", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _poll_forever(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # keep polling whatever one pass hit
                log.exception("%s: polling %s failed", self.name, self.base_path)

    # ---- polling

    def poll(self) -> None:
        """One pass: load the newest loadable versions, then unload the ones they replace."""
        with self._poll_lock:
            found = self._scan()
            while True:
                candidates = [v for v in sorted(found, reverse=True)
                              if v not in self._failed or self._failed[v] != _files_fingerprint(found[v])]
                wanted = candidates[: self.num_versions]
                missing = [v for v in wanted if v not in self._served]
                if not missing:
                    break
                for version in missing:
                    self._load(version, found[version])
            if any(v in self._served for v in wanted):  # never leave the model with nothing to serve
                for version in sorted(set(self._served) - set(wanted)):
                    self._unload(version)

    def _scan(self) -> Dict[int, str]:
        try:
            names = os.listdir(self.base_path)
        except OSError as e:
            problem = f"cannot list {self.base_path} ({e.strerror or e})"
            if problem != self._listing_problem:  # said once, not at every poll
                log.warning("%s: %s; still serving %s", self.name, problem, self.served_versions or "nothing")
            self._listing_problem = problem
            return {}
        self._listing_problem = None
        found: Dict[int, str] = {}
        for entry in sorted(names):
            if not (entry.isascii() and entry.isdigit()):
                continue
            path = os.path.join(self.base_path, entry)
            if any(os.path.isfile(os.path.join(path, f)) for f in SAVED_MODEL_FILES):
                found.setdefault(int(entry), path)
        return found

    def _load(self, version: int, path: str) -> None:
        self._set_state(version, VersionState("LOADING"))
        fingerprint = _files_fingerprint(path)
        try:
            servable = self._loader(self.name, version, path)
        except Exception as e:
            error = from_exception(e)
            self._failed[version] = fingerprint
            self._set_state(version, VersionState("END", error.code, error.message))
            log.warning("%s: version %d (%s) failed to load, still serving %s: %s", self.name, version, path,
                        self.served_versions or "nothing", one_line(error.message))
            return
        self._failed.pop(version, None)
        self._served = {**self._served, version: servable}
        self._set_state(version, VersionState("AVAILABLE"))
        log.info("%s: serving version %d from %s", self.name, version, path)

    def _unload(self, version: int) -> None:
        self._set_state(version, VersionState("UNLOADING"))
        self._served = {v: s for v, s in self._served.items() if v != version}
        self._set_state(version, VersionState("END"))
        log.info("%s: unloaded version %d", self.name, version)

    def _set_state(self, version: int, state: VersionState) -> None:
        with self._state_lock:
            self._states[version] = state

    # ---- queries (any thread)

    @property
    def served_versions(self) -> List[int]:
        return sorted(self._served)

    @property
    def states(self) -> Dict[int, VersionState]:
        with self._state_lock:
            return dict(self._states)

    def servable(self, name: str, version: Optional[int] = None) -> Servable:
        """The servable for a request: the newest served version, or exactly ``version``; NOT_FOUND as in TF
        Serving otherwise."""
        served = self._served
        if name == self.name and served:
            if version is None:
                return served[max(served)]
            if version in served:
                return served[version]
        request = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
        raise not_found("Servable not found for request: ", request)

    def status(self, name: str, version: Optional[int] = None) -> List[dict]:
        """ModelVersionStatus entries (newest first) for every version this server has seen, or one."""
        states = self.states if name == self.name else {}
        if version is not None:
            if version not in states:
                raise not_found(f"Could not find version {version} of model {name}")
            chosen = [(version, states[version])]
        else:
            if not states:
                raise not_found(f"Could not find any versions of model {name}")
            chosen = sorted(states.items(), reverse=True)
        return [
            {"version": str(v), "state": s.state, "status": {"error_code": s.error_code, "error_message": s.error_message}}
            for v, s in chosen
        ]
