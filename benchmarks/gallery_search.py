"""1:N gallery search: latency, throughput, memory, build time and recall of every lrfr_tf.search index.

For each gallery size (--sizes) and embedding dim (--dims), on synthetic face-like embeddings
(see ``make_data``), every method is built, timed and compared with exact float32 search
measured in the same process:

  * exact/{float32,float16,int8}: lrfr_tf.search.ExactIndex (NumPy matrix product, chunked top-k);
  * flat/{float32,int8}: faiss brute force (IndexFlatIP / SQ8);
  * hnsw/{float32,int8}: faiss HNSW32 (efConstruction 40, efSearch 128), up to --hnsw_max rows;
  * ivf/{float32,int8}: faiss IVF, nlist = sqrt(n), nprobe = nlist / 4;
  * memmap/{float32,int8}: exact search streamed from a gallery file (page cache warm: the file
    was just written, so this times the streaming scan, not the disk).

Per method: build seconds; single-query latency (median, p90 over --single_queries queries, or as
many as fit in --latency_budget seconds); batched throughput (all probes in one search call);
stored bytes (codes + ids + index structure) and process RSS; recall@1 against exact float32
(same top-1 gallery row) and rank-1 identification accuracy (top-1 row has the probe's identity).

  nice -n 5 python benchmarks/gallery_search.py            # 10k, 100k, 1M x 128, 512 (~15 min on 2 shared cores)
  python benchmarks/gallery_search.py --sizes=10000 --dims=128 --json=/tmp/g.json --png=/tmp/g.png
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def _threads_from_argv(argv) -> int:
    for i, a in enumerate(argv):
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
    return 1


# BLAS / OpenMP thread counts must be fixed before NumPy and faiss load.
THREADS = _threads_from_argv(sys.argv[1:])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(THREADS)

import numpy as np
import tqdm

from lrfr_tf.search import create_index, write_gallery

REPO = Path(__file__).resolve().parents[1]
METHODS = ["exact/float32", "exact/float16", "exact/int8", "flat/float32", "flat/int8", "hnsw/float32", "hnsw/int8",
           "ivf/float32", "ivf/int8", "memmap/float32", "memmap/int8"]

GENERATOR = (
    "identities: n/2 random centres c ~ N(0, diag(j^-0.5)), j = 1..dim (power-law spectrum, so impostor "
    "cosines spread like real face embeddings), rotated by a random orthogonal matrix, L2-normalised; "
    "gallery: 2 samples per identity, x = normalise(c + sigma * g / sqrt(dim)), g ~ N(0, I), sigma = 0.9 "
    "(genuine probe-gallery cosine ~0.55); probes: a third sample of identities drawn uniformly from the gallery"
)


def make_data(n: int, dim: int, n_probes: int, seed: int = 0, sigma: float = 0.9, chunk: int = 65536):
    """Synthetic gallery [n, dim], identity per row, probes [n_probes, dim] and their identities (float32, unit rows)."""
    rng = np.random.default_rng(seed)
    n_ids = max(1, n // 2)
    rot, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    rot = rot.astype(np.float32)
    spec = (np.arange(1, dim + 1, dtype=np.float32) ** -0.25)  # std = sqrt(variance j^-0.5)

    cen = np.empty((n_ids, dim), np.float32)
    for a in range(0, n_ids, chunk):
        b = min(a + chunk, n_ids)
        z = rng.standard_normal((b - a, dim), dtype=np.float32) * spec
        z = z @ rot
        cen[a:b] = z / np.linalg.norm(z, axis=1, keepdims=True)

    def sample(ident):
        out = np.empty((len(ident), dim), np.float32)
        for a in range(0, len(ident), chunk):
            b = min(a + chunk, len(ident))
            x = cen[ident[a:b]] + rng.standard_normal((b - a, dim), dtype=np.float32) * (sigma / np.sqrt(dim))
            out[a:b] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    g_ident = np.arange(n, dtype=np.int64) // 2 % n_ids
    gallery = sample(g_ident)
    p_ident = rng.integers(0, n_ids, n_probes)
    probes = sample(p_ident)
    return gallery, g_ident, probes, p_ident


def rss_bytes() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return {"rss": out.get("VmRSS"), "peak_rss": out.get("VmHWM")}


def build(method: str, gallery: np.ndarray, tmpdir: str):
    kind, storage = method.split("/")
    t0 = time.perf_counter()
    if kind == "memmap":
        path = os.path.join(tmpdir, f"gallery_{storage}.lrfrgal")
        write_gallery(path, gallery, dtype=storage)
        index = create_index("memmap", path=path)
    else:
        index = create_index(kind, dim=gallery.shape[1], storage=storage)
        index.add(gallery)
    return index, time.perf_counter() - t0


def time_single(index, probes: np.ndarray, n: int, budget: float) -> list[float]:
    index.search(probes[0], k=1)  # warm-up
    times, start = [], time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        index.search(probes[i % len(probes)], k=1)
        times.append(time.perf_counter() - t)
        if i >= 9 and time.perf_counter() - start > budget:
            break
    return times


def run_config(n, dim, args, methods, bar) -> dict:
    n_probes = args.probes if n < 1_000_000 else args.probes_1m
    t0 = time.perf_counter()
    gallery, g_ident, probes, p_ident = make_data(n, dim, n_probes, seed=args.seed)
    gen_s = time.perf_counter() - t0
    rows, ref_top1 = [], None
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmpdir:
        for method in methods:
            kind = method.split("/")[0]
            bar.set_postfix_str(f"n={n} dim={dim} {method}")
            if kind == "hnsw" and n > args.hnsw_max:
                rows.append(dict(method=method, skipped=f"HNSW build above --hnsw_max={args.hnsw_max} rows is too slow on 2 cores"))
                bar.update(1)
                continue
            if kind == "memmap" and n < args.memmap_min:
                rows.append(dict(method=method, skipped=f"memmap measured only from --memmap_min={args.memmap_min} rows"))
                bar.update(1)
                continue
            gc.collect()
            index, build_s = build(method, gallery, tmpdir)
            mem = rss_bytes()
            single = time_single(index, probes, args.single_queries, args.latency_budget)
            t = time.perf_counter()
            res = index.search(probes, k=10)
            batch_s = time.perf_counter() - t
            top1 = res.ids[:, 0]
            if ref_top1 is None:
                assert method == "exact/float32", "the first method must be the exact float32 baseline"
                ref_top1 = top1
            row = dict(
                method=method, kind=kind, storage=method.split("/")[1], build_s=build_s,
                single_query_ms_median=1e3 * statistics.median(single),
                single_query_ms_p90=1e3 * float(np.percentile(single, 90)), single_queries_timed=len(single),
                batch_queries=len(probes), batch_qps=len(probes) / batch_s,
                stored_bytes=int(index.nbytes), rss_after_build=mem["rss"], peak_rss=mem["peak_rss"],
                recall_at_1_vs_exact=float(np.mean(top1 == ref_top1)),
                rank1_identification=float(np.mean(g_ident[top1] == p_ident)),
                params={k: getattr(index, k) for k in ("nlist", "nprobe", "M", "ef_construction", "ef_search",
                                                       "chunk_rows", "query_block") if hasattr(index, k)},
                loadavg=os.getloadavg(),
            )
            rows.append(row)
            if hasattr(index, "close"):
                index.close()
            del index, res
            bar.update(1)
    base = rows[0]
    for r in rows:
        if "skipped" not in r:
            r["latency_ratio_vs_exact_f32"] = r["single_query_ms_median"] / base["single_query_ms_median"]
            r["throughput_ratio_vs_exact_f32"] = r["batch_qps"] / base["batch_qps"]
            r["bytes_ratio_vs_exact_f32"] = r["stored_bytes"] / base["stored_bytes"]
    del gallery, probes
    gc.collect()
    return dict(n=n, dim=dim, probes=n_probes, generate_s=gen_s, rows=rows)


_RSS_CHILD = """
import json, sys, time
import numpy as np
from lrfr_tf.search import open_gallery
def rss():
    d = dict(l.split(":", 1) for l in open("/proc/self/status") if l.startswith(("VmRSS", "VmHWM")))
    return {k: int(v.split()[0]) * 1024 for k, v in d.items()}
path, release = sys.argv[1], sys.argv[2] == "1"
index = open_gallery(path)
index.release_pages = release
q = np.random.default_rng(1).standard_normal((100, index.dim)).astype(np.float32)
before = rss()
t = time.perf_counter()
for i in range(10):
    index.search(q[i], k=1)
single_ms = (time.perf_counter() - t) / 10 * 1e3
index.search(q, k=10)
after = rss()
print(json.dumps(dict(release_pages=release, rss_before=before["VmRSS"], rss_after=after["VmRSS"],
                      peak_rss=after["VmHWM"], single_query_ms_mean=single_ms)))
"""


def memmap_rss(spec: str, tmpdir: str | None) -> list[dict]:
    """Resident memory of a fresh process that only opens an n x dim gallery file and searches it.

    The file (random unit rows, float32) is written chunk by chunk, never held in memory; the child
    runs 10 single queries and one batch of 100, with and without releasing pages after each chunk.
    """
    import subprocess

    from lrfr_tf.search import GalleryWriter
    out = []
    for item in spec.split(","):
        n, dim = (int(v) for v in item.split("x"))
        with tempfile.TemporaryDirectory(dir=tmpdir) as d:
            path = os.path.join(d, "gallery.lrfrgal")
            rng = np.random.default_rng(0)
            with GalleryWriter(path, n, dim, "float32") as w:
                for a in tqdm.trange(0, n, 65536, desc=f"write {n}x{dim} gallery file", leave=False):
                    w.add(rng.standard_normal((min(65536, n - a), dim), dtype=np.float32))
            for release in (1, 0):
                env = dict(os.environ, PYTHONPATH=str(REPO))
                res = subprocess.run([sys.executable, "-c", _RSS_CHILD, path, str(release)], capture_output=True,
                                     text=True, env=env, check=True)
                row = dict(n=n, dim=dim, file_bytes=os.path.getsize(path), **json.loads(res.stdout))
                out.append(row)
                print(f"memmap {n}x{dim} file {fmt_bytes(row['file_bytes'])}, release_pages={bool(release)}: RSS "
                      f"{fmt_bytes(row['rss_before'])} -> {fmt_bytes(row['rss_after'])} (peak {fmt_bytes(row['peak_rss'])}), "
                      f"{row['single_query_ms_mean']:.0f} ms/query")
    return out


def fmt_bytes(b: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024


def print_table(configs: list[dict]) -> None:
    head = f"{'n':>8} {'dim':>4} {'method':<15} {'build s':>8} {'p50 ms':>8} {'p90 ms':>8} {'x f32':>6} {'batch q/s':>10} {'x f32':>6} {'stored':>9} {'x f32':>5} {'RSS':>9} {'R@1':>6} {'rank1':>6}"
    print(head)
    print("-" * len(head))
    for c in configs:
        for r in c["rows"]:
            if "skipped" in r:
                print(f"{c['n']:>8} {c['dim']:>4} {r['method']:<15} skipped: {r['skipped']}")
                continue
            print(f"{c['n']:>8} {c['dim']:>4} {r['method']:<15} {r['build_s']:>8.2f} {r['single_query_ms_median']:>8.2f} "
                  f"{r['single_query_ms_p90']:>8.2f} {r['latency_ratio_vs_exact_f32']:>6.2f} {r['batch_qps']:>10.0f} "
                  f"{r['throughput_ratio_vs_exact_f32']:>6.2f} {fmt_bytes(r['stored_bytes']):>9} "
                  f"{r['bytes_ratio_vs_exact_f32']:>5.2f} {fmt_bytes(r['rss_after_build']):>9} "
                  f"{r['recall_at_1_vs_exact']:>6.3f} {r['rank1_identification']:>6.3f}")


def plot(configs: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = sorted({c["dim"] for c in configs})
    fig, axes = plt.subplots(1, len(dims), figsize=(7 * len(dims), 5), squeeze=False)
    for ax, dim in zip(axes[0], dims):
        series = {}
        for c in sorted((c for c in configs if c["dim"] == dim), key=lambda c: c["n"]):
            for r in c["rows"]:
                if "skipped" not in r:
                    series.setdefault(r["method"], []).append((c["n"], r["single_query_ms_median"], r["recall_at_1_vs_exact"]))
        colours = {"exact": "black", "flat": "tab:blue", "hnsw": "tab:green", "ivf": "tab:red", "memmap": "tab:purple"}
        styles = {"float32": ("-", "o"), "float16": (":", "s"), "int8": ("--", "^")}
        for method, pts in series.items():
            xs, ys, rec = zip(*pts)
            kind, storage = method.split("/")
            ls, marker = styles[storage]
            ax.plot(xs, ys, ls, marker=marker, color=colours[kind], lw=2.5 if method == "exact/float32" else 1.3,
                    label=f"{method} (R@1 {min(rec):.3f}-{max(rec):.3f})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gallery size (embeddings)")
        ax.set_ylabel("single-query latency, median (ms)")
        ax.set_title(f"dim {dim}: 1:N search latency (recall@1 vs exact float32 in legend)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="Comma-separated gallery sizes.")
    p.add_argument("--dims", default="128,512", help="Comma-separated embedding dims.")
    p.add_argument("--methods", default=",".join(METHODS), help="Comma-separated kind/storage (exact/float32 always runs first).")
    p.add_argument("--probes", type=int, default=1000, help="Probes for recall and batched throughput (n < 1M).")
    p.add_argument("--probes_1m", type=int, default=500, help="Probes at n >= 1M.")
    p.add_argument("--single_queries", type=int, default=200, help="Single queries timed per method.")
    p.add_argument("--latency_budget", type=float, default=12.0, help="Stop timing single queries after this many seconds (min 10 queries).")
    p.add_argument("--hnsw_max", type=int, default=100_000, help="Skip HNSW above this gallery size (build too slow on 2 cores).")
    p.add_argument("--memmap_min", type=int, default=0, help="Measure memmap only from this gallery size.")
    p.add_argument("--tmpdir", default=None, help="Where memmap gallery files are written (deleted after each config).")
    p.add_argument("--threads", type=int, default=1, help="BLAS and faiss OpenMP threads (1: stable single-query latency "
                   "on a shared machine, where spinning worker threads of an oversubscribed pool inflate latency many-fold).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--memmap_rss", default="1000000x512", help="Comma-separated NxDIM gallery files whose search RSS is "
                   "measured in a fresh process ('' to skip).")
    p.add_argument("--memmap_rss_only", action="store_true", help="Only run the --memmap_rss check and add it to --json.")
    p.add_argument("--plot_only", action="store_true", help="Re-draw --png and re-print the table from --json, measure nothing.")
    p.add_argument("--json", default=str(REPO / "results/benchmarks/gallery_search.json"))
    p.add_argument("--png", default=str(REPO / "results/benchmarks/gallery_search.png"))
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    dims = [int(d) for d in args.dims.split(",")]
    methods = ["exact/float32"] + [m for m in args.methods.split(",") if m != "exact/float32"]
    for m in methods:
        if m not in METHODS:
            p.error(f"--methods: unknown {m!r}, expected some of {', '.join(METHODS)}")

    if args.plot_only:
        configs = json.loads(Path(args.json).read_text())["configs"]
        print_table(configs)
        plot(configs, Path(args.png))
        return
    if args.memmap_rss_only:
        doc = json.loads(Path(args.json).read_text())
        doc["memmap_rss"] = dict(loadavg=os.getloadavg(), rows=memmap_rss(args.memmap_rss, args.tmpdir))
        Path(args.json).write_text(json.dumps(doc, indent=1))
        return
    import faiss
    faiss.omp_set_num_threads(args.threads)
    started = time.time()
    meta = dict(
        started_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), argv=sys.argv[1:], generator=GENERATOR,
        loadavg_start=os.getloadavg(), cpu_count=os.cpu_count(), platform=platform.platform(),
        python=platform.python_version(), numpy=np.__version__, faiss=faiss.__version__, faiss_threads=faiss.omp_get_max_threads(), blas_threads=THREADS,
        nice=os.nice(0), k_batch=10,
        notes=("single-query latency = one search(q, k=1) call, Python overhead included; batch = one search(all probes, k=10) "
               "call; recall@1 = top-1 gallery row equals exact float32's; stored_bytes = codes + scales + int64 ids + index "
               "structure; rss is the whole process (gallery arrays of the benchmark included); memmap rows time a warm page cache"),
    )
    configs = []
    bar = tqdm.tqdm(total=len(sizes) * len(dims) * len(methods), desc="gallery search", unit="method")
    for n in sizes:
        for dim in dims:
            configs.append(run_config(n, dim, args, methods, bar))
            meta["loadavg_end"] = os.getloadavg()
            meta["wall_s"] = time.time() - started
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(dict(meta=meta, configs=configs), indent=1))
    bar.close()
    if args.memmap_rss:
        rss = dict(loadavg=os.getloadavg(), rows=memmap_rss(args.memmap_rss, args.tmpdir))
        Path(args.json).write_text(json.dumps(dict(meta=meta, configs=configs, memmap_rss=rss), indent=1))
    print_table(configs)
    plot(configs, Path(args.png))
    print(f"wrote {args.json} and {args.png} in {time.time() - started:.0f} s; loadavg {meta['loadavg_start']} -> {meta['loadavg_end']}")


if __name__ == "__main__":
    main()
