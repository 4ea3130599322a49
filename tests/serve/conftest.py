"""Fixtures: a model base path with versions 1 and 2, and a server over it on a free 127.0.0.1 port."""

from __future__ import annotations

import pytest
from serve_helpers import MODEL_NAME, SMALL_BODY_LIMIT, copy_version, start_server, write_version


@pytest.fixture(scope="session")
def exported_versions(tmp_path_factory):
    """{version: folder} of two SavedModels with different weights, outside any base path."""
    root = tmp_path_factory.mktemp("exported")
    folders = {}
    for version in (1, 2):
        folders[version] = str(root / str(version))
        write_version(folders[version], seed=version)
    return folders


@pytest.fixture(scope="session")
def model_base_path(tmp_path_factory, exported_versions):
    """DIR/faces holding versions 1 and 2."""
    base = tmp_path_factory.mktemp("models") / MODEL_NAME
    base.mkdir()
    for version in (1, 2):
        copy_version(exported_versions[version], str(base / str(version)))
    return str(base)


@pytest.fixture(scope="session")
def served_versions(model_base_path):
    """The base path's versions, loaded once (newest only, no polling) and shared by the servers below."""
    from lrfr_tf.serve import ModelVersions

    versions = ModelVersions(model_base_path, poll_seconds=0)
    versions.start()
    yield versions
    versions.stop()


@pytest.fixture(scope="module")
def server(served_versions):
    """The server most tests talk to: default batching, a 256 KiB body limit."""
    thread = start_server(served_versions, max_request_bytes=SMALL_BODY_LIMIT)
    yield thread.server
    thread.stop()
