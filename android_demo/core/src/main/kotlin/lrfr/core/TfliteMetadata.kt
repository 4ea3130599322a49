package lrfr.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * The `lrfr_tf` export metadata a `.tflite` file carries (`lrfr_tf.model_metadata`): an entry named "lrfr_tf" in
 * the flatbuffer's `Model.metadata` whose buffer holds the JSON document (`preprocessing`, `input`,
 * `embedding_dim`, `thresholds`, ...). Read with a minimal flatbuffer walk (no schema library): Model field 4 is
 * `buffers`, field 6 `metadata`; Metadata field 0 `name`, 1 `buffer`; Buffer field 0 `data`. Every offset is
 * bounds-checked; a damaged file is an [IllegalArgumentException] naming [what].
 */
object TfliteMetadata {
    const val NAME = "lrfr_tf"

    /** The metadata document, or null when the model has none (a foreign model). */
    fun read(model: ByteArray, what: String = "model"): Map<String, Any?>? {
        if (model.size < 8 || String(model, 4, 4, Charsets.ISO_8859_1) != "TFL3") {
            throw IllegalArgumentException("$what: not a TFLite flatbuffer (no 'TFL3' identifier)")
        }
        val fb = Flat(ByteBuffer.wrap(model).order(ByteOrder.LITTLE_ENDIAN), what)
        val root = fb.indirect(0)
        val entries = fb.field(root, 6) ?: return null
        val buffers = fb.field(root, 4)
        val count = fb.u32(fb.indirect(entries))
        for (i in 0 until count) {
            val entry = fb.vectorTable(fb.indirect(entries), i)
            val nameAt = fb.field(entry, 0) ?: continue
            if (fb.string(fb.indirect(nameAt)) != NAME) continue
            val index = fb.field(entry, 1)?.let { fb.u32(it) } ?: 0
            val nBuffers = buffers?.let { fb.u32(fb.indirect(it)) } ?: 0
            if (index !in 0 until nBuffers) throw IllegalArgumentException("$what: metadata '$NAME' points at buffer $index of $nBuffers")
            val buffer = fb.vectorTable(fb.indirect(buffers!!), index)
            val dataAt = fb.field(buffer, 0) ?: throw IllegalArgumentException("$what: metadata '$NAME' is empty")
            val data = fb.indirect(dataAt)
            val len = fb.u32(data)
            if (len == 0) throw IllegalArgumentException("$what: metadata '$NAME' is empty")
            fb.check(data + 4, len)
            val text = String(model, data + 4, len, Charsets.UTF_8)
            val doc = try { Json.parse(text) } catch (e: IllegalArgumentException) {
                throw IllegalArgumentException("$what: metadata '$NAME' is not JSON (${e.message})")
            }
            @Suppress("UNCHECKED_CAST")
            return doc as? Map<String, Any?> ?: throw IllegalArgumentException("$what: metadata '$NAME' is not a JSON object")
        }
        return null
    }

    private class Flat(val b: ByteBuffer, val what: String) {
        fun check(pos: Int, len: Int) {
            if (pos < 0 || len < 0 || pos.toLong() + len > b.limit()) throw IllegalArgumentException("$what: damaged flatbuffer (offset $pos + $len beyond ${b.limit()} bytes)")
        }
        fun u32(pos: Int): Int {
            check(pos, 4)
            val v = b.getInt(pos).toLong() and 0xFFFFFFFFL
            if (v > Int.MAX_VALUE) throw IllegalArgumentException("$what: damaged flatbuffer (value $v at $pos)")
            return v.toInt()
        }
        /** The position a uoffset stored at [pos] points to. */
        fun indirect(pos: Int): Int = (pos.toLong() + u32(pos)).let {
            if (it > b.limit()) throw IllegalArgumentException("$what: damaged flatbuffer (offset beyond the file)")
            it.toInt()
        }
        /** Position of field [id] of the table at [table], or null when absent. */
        fun field(table: Int, id: Int): Int? {
            check(table, 4)
            val vtable = table - b.getInt(table)
            check(vtable, 4)
            val vsize = b.getShort(vtable).toInt() and 0xFFFF
            val slot = 4 + 2 * id
            if (slot + 2 > vsize) return null
            check(vtable + slot, 2)
            val off = b.getShort(vtable + slot).toInt() and 0xFFFF
            return if (off == 0) null else table + off
        }
        /** The [i]-th table of the vector of tables at [vector]. */
        fun vectorTable(vector: Int, i: Int): Int = indirect(vector + 4 + 4 * i)
        fun string(pos: Int): String {
            val len = u32(pos)
            check(pos + 4, len)
            return String(b.array(), pos + 4, len, Charsets.UTF_8)
        }
    }
}
