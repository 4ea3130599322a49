package lrfr.core

import java.io.File
import java.security.MessageDigest
import java.util.zip.ZipException
import java.util.zip.ZipFile

/**
 * The enrolled gallery: the `.npz` that `python -m lrfr_tf.edge enroll` writes (`lrfr_tf.edge.gallery`, format
 * version 1): a zip of `format_version` (int64), `model_sha256` (str), `embedding_dim` (int64), `names` (str [n]),
 * `embeddings` (float32 [n, dim], L2-normalised), `sources` (str [n]). One file serves the Python runtime and the
 * phone. [load] refuses, with a message naming the file, what `load_gallery` refuses (missing arrays, another
 * format version, inconsistent shapes, non-finite values, another model's sha256 or embedding size) and also any
 * array that is not little-endian float32 / int64 / unicode in C order (see [NpyArray]).
 */
class Gallery(val modelSha256: String, val dim: Int, val names: List<String>, val embeddings: FloatArray, val sources: List<String>) {
    /** Rows L2-normalised again for matching (as `lrfr_tf.search.ExactIndex` does), [size] x [dim]. */
    private val unitRows: FloatArray

    init {
        require(dim > 0 && embeddings.size == names.size * dim && sources.size == names.size) {
            "gallery: ${names.size} names, ${sources.size} sources, ${embeddings.size} values of dim $dim"
        }
        unitRows = FloatArray(embeddings.size)
        for (r in names.indices) {
            val row = ModelInput.l2Normalize(embeddings.copyOfRange(r * dim, (r + 1) * dim))
            row.copyInto(unitRows, r * dim)
        }
    }

    /** This gallery plus one row (an embedding enrolled on the phone, L2-normalised like `enroll`'s). */
    fun withRow(name: String, embedding: FloatArray, source: String): Gallery {
        require(embedding.size == dim) { "embedding of size ${embedding.size}, the gallery holds $dim-d embeddings" }
        return Gallery(modelSha256, dim, names + name, embeddings + ModelInput.l2Normalize(embedding), sources + source)
    }

    /**
     * Write the gallery as `lrfr_tf.edge.gallery.Gallery.save` does (an `.npz` whose members are byte for byte
     * NumPy's `.npy` files: tested against the golden gallery), through `<file>.tmp`, renamed once complete, so
     * `python -m lrfr_tf.edge identify --gallery=...` reads a gallery enrolled on the phone.
     */
    fun save(file: File) {
        val tmp = File(file.path + ".tmp")
        java.util.zip.ZipOutputStream(tmp.outputStream().buffered()).use { zip ->
            fun member(key: String, bytes: ByteArray) {
                zip.putNextEntry(java.util.zip.ZipEntry("$key.npy"))
                zip.write(bytes)
                zip.closeEntry()
            }
            member("format_version", NpyArray.write("<i8", intArrayOf(), longBytes(FORMAT_VERSION)))
            member("model_sha256", NpyArray.strings(listOf(modelSha256), scalar = true))
            member("embedding_dim", NpyArray.write("<i8", intArrayOf(), longBytes(dim.toLong())))
            member("names", NpyArray.strings(names))
            val data = java.nio.ByteBuffer.allocate(embeddings.size * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            embeddings.forEach { data.putFloat(it) }
            member("embeddings", NpyArray.write("<f4", intArrayOf(names.size, dim), data.array()))
            member("sources", NpyArray.strings(sources))
        }
        if (!tmp.renameTo(file)) {
            tmp.delete()
            throw java.io.IOException("could not write ${file.path}")
        }
    }

    private fun longBytes(v: Long): ByteArray = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(v).array()

    val size: Int get() = names.size
    val identities: List<String> get() = names.toSortedSet().toList()

    /** (identity, cosine similarity) of the best row for an embedding (normalised here); (null, null) when empty.
     *  A NaN/infinite or all-zero embedding is an [IllegalArgumentException], as `lrfr_tf.search` refuses it. */
    fun bestMatch(embedding: FloatArray): Pair<String?, Double?> {
        require(embedding.size == dim) { "embedding of size ${embedding.size}, the gallery holds $dim-d embeddings" }
        require(embedding.all { it.isFinite() }) { "embedding contains NaN or inf" }
        require(embedding.any { it != 0f }) { "embedding has zero norm and cannot be L2-normalised" }
        if (names.isEmpty()) return null to null
        val q = ModelInput.l2Normalize(embedding)
        var best = -1
        var bestScore = Double.NEGATIVE_INFINITY
        for (r in names.indices) {
            var s = 0.0
            for (k in 0 until dim) s += q[k].toDouble() * unitRows[r * dim + k]
            if (s > bestScore) { bestScore = s; best = r }
        }
        return names[best] to bestScore
    }

    companion object {
        const val FORMAT_VERSION = 1L
        val KEYS = listOf("format_version", "model_sha256", "embedding_dim", "names", "embeddings", "sources")
        /** Largest array member read (the zip's central directory says each member's size before it is read). */
        const val MAX_MEMBER_BYTES = 256L shl 20

        /** Up to [limit] bytes of [input] (InputStream.readNBytes needs Android API 33). */
        private fun readUpTo(input: java.io.InputStream, limit: Int): ByteArray {
            val out = java.io.ByteArrayOutputStream(minOf(limit, 1 shl 20))
            val buf = ByteArray(1 shl 16)
            var left = limit
            while (left > 0) {
                val n = input.read(buf, 0, minOf(buf.size, left))
                if (n < 0) break
                out.write(buf, 0, n)
                left -= n
            }
            return out.toByteArray()
        }

        fun sha256(file: File): String = file.inputStream().use { input ->
            val md = MessageDigest.getInstance("SHA-256")
            val buf = ByteArray(1 shl 16)
            while (true) {
                val n = input.read(buf)
                if (n < 0) break
                md.update(buf, 0, n)
            }
            md.digest().joinToString("") { "%02x".format(it) }
        }

        /** Read and check a gallery file (see the class comment); [modelSha256] / [embeddingDim] null skip those checks. */
        fun load(file: File, modelSha256: String? = null, embeddingDim: Int? = null, what: String = "gallery"): Gallery {
            val name = "$what=${file.path}"
            if (!file.isFile) throw java.io.FileNotFoundException("$name: no such file")
            val arrays = HashMap<String, NpyArray>()
            try {
                ZipFile(file).use { zip ->
                    val present = zip.entries().asSequence().map { it.name }.toSet()
                    val missing = KEYS.filter { "$it.npy" !in present }
                    if (missing.isNotEmpty()) throw IllegalArgumentException("$name: not an lrfr_tf.edge gallery (missing ${missing.joinToString()})")
                    for (key in KEYS) {
                        val entry = zip.getEntry("$key.npy")
                        if (entry.size < 0 || entry.size > MAX_MEMBER_BYTES) {
                            throw IllegalArgumentException("$name: $key.npy is ${entry.size} bytes (limit $MAX_MEMBER_BYTES)")
                        }
                        val bytes = zip.getInputStream(entry).use { readUpTo(it, entry.size.toInt() + 1) }
                        if (bytes.size.toLong() != entry.size) throw IllegalArgumentException("$name: $key.npy is damaged (size differs from the zip directory)")
                        arrays[key] = try {
                            NpyArray.parse(bytes)
                        } catch (e: IllegalArgumentException) {
                            throw IllegalArgumentException("$name: $key: ${e.message}")
                        }
                    }
                }
            } catch (e: ZipException) {
                throw IllegalArgumentException("$name: not a readable gallery .npz (${e.message})")
            } catch (e: java.io.EOFException) {
                throw IllegalArgumentException("$name: not a readable gallery .npz (truncated)")
            }
            fun scalarLong(key: String): Long = arrays[key]!!.let {
                if (it.size != 1) throw IllegalArgumentException("$name: $key holds ${it.size} values, expected one")
                try { it.longs()[0] } catch (e: IllegalArgumentException) { throw IllegalArgumentException("$name: $key: ${e.message}") }
            }
            fun strings(key: String): List<String> =
                try { arrays[key]!!.strings() } catch (e: IllegalArgumentException) { throw IllegalArgumentException("$name: $key: ${e.message}") }
            for (key in listOf("names", "sources")) {
                val shape = arrays[key]!!.shape
                if (shape.size != 1) throw IllegalArgumentException("$name: $key: expected a 1-D array, got shape (${shape.joinToString()})")
            }

            val version = scalarLong("format_version")
            if (version != FORMAT_VERSION) throw IllegalArgumentException("$name: gallery format version $version; this reader reads version $FORMAT_VERSION")
            val shaList = strings("model_sha256")
            if (shaList.size != 1) throw IllegalArgumentException("$name: model_sha256 holds ${shaList.size} values, expected one")
            val sha = shaList[0]
            val dimLong = scalarLong("embedding_dim")
            val names = strings("names")
            val sources = strings("sources")
            val emb = arrays["embeddings"]!!
            val values = try { emb.floats() } catch (e: IllegalArgumentException) { throw IllegalArgumentException("$name: embeddings: ${e.message}") }
            val shape = emb.shape
            if (dimLong < 0 || dimLong > Int.MAX_VALUE || shape.size != 2 || shape[0] != names.size || sources.size != names.size ||
                (names.isNotEmpty() && shape[1].toLong() != dimLong)) {
                throw IllegalArgumentException("$name: damaged gallery (${names.size} names, ${sources.size} sources, embeddings " +
                    "${shape.joinToString(", ", "[", "]")}, embedding_dim $dimLong)")
            }
            val dim = dimLong.toInt()
            if (modelSha256 != null && sha != modelSha256) {
                throw IllegalArgumentException("$name: enrolled with another model (sha256 ${sha.take(12)}..., the model is " +
                    "${modelSha256.take(12)}...); enroll again with this model")
            }
            if (embeddingDim != null && dim != embeddingDim) {
                throw IllegalArgumentException("$name: $dim-d embeddings, the model makes $embeddingDim-d ones")
            }
            if (values.any { !it.isFinite() }) throw IllegalArgumentException("$name: embeddings hold NaN or infinite values (damaged gallery)")
            val zero = (0 until names.size).firstOrNull { r -> (0 until dim).all { values[r * dim + it] == 0f } }
            if (zero != null) throw IllegalArgumentException("$name: embedding row $zero is all zeros (damaged gallery)")
            return Gallery(sha, dim, names, values, sources)
        }
    }
}
