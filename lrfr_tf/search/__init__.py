"""1:N identification search over a gallery of L2-normalised face embeddings (cosine similarity).

NumPy only: TensorFlow is never imported, and faiss only when an ANN kind is built, so the
edge runtime and the serving mode can use it. One module per concern:

  * :mod:`.storage`: float32 / float16 / int8 (per-vector symmetric scale) gallery rows with int64 ids;
  * :mod:`.exact`: :class:`ExactIndex`, chunked brute-force top-k in NumPy;
  * :mod:`.ann`: :class:`FaissIndex`, faiss ``flat`` / ``hnsw`` / ``ivf`` behind the same interface;
  * :mod:`.gallery_file`: a versioned on-disk gallery (:class:`GalleryWriter`), memory-mapped and
    searched in streamed chunks (:func:`open_gallery`);
  * :mod:`.factory`: :func:`create_index` over the kinds registry, with a measured "auto" default.

    from lrfr_tf.search import create_index
    index = create_index("auto", n=len(gallery), dim=512)
    index.add(gallery, ids=person_ids)
    scores, ids = index.search(probes, k=5)     # [n_probes, 5] cosine, best first
"""

from .ann import FaissIndex, import_faiss
from .base import Index, SearchResult
from .exact import ExactIndex
from .factory import KINDS, auto_kind, create_index
from .gallery_file import GalleryWriter, MemmapIndex, open_gallery, read_header, write_gallery
from .storage import EmbeddingStore, quantize_int8

__all__ = [
    "EmbeddingStore", "ExactIndex", "FaissIndex", "GalleryWriter", "Index", "KINDS", "MemmapIndex", "SearchResult",
    "auto_kind", "create_index", "import_faiss", "open_gallery", "quantize_int8", "read_header", "write_gallery",
]
