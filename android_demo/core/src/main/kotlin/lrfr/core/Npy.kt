package lrfr.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * One `.npy` array (NumPy's format, versions 1-3) of the dtypes a gallery holds: little-endian float32 (`<f4`),
 * int64 (`<i8`) and fixed-width unicode (`<U n`, UTF-32LE), C order. The header is checked before anything is
 * decoded (magic, version, header length within the file, shape whose element count times the item size is
 * exactly the bytes that follow); every other dtype, byte order or Fortran order is refused with a message naming
 * it (NumPy's own reader would convert some of them; the camera does not guess).
 */
class NpyArray private constructor(val descr: String, val shape: IntArray, private val data: ByteBuffer) {
    val size: Int get() = shape.fold(1) { a, b -> a * b }

    fun floats(): FloatArray {
        require(descr == "<f4") { "expected float32 ('<f4'), got '$descr'" }
        return FloatArray(size) { data.getFloat(it * 4) }
    }

    fun longs(): LongArray {
        require(descr == "<i8") { "expected int64 ('<i8'), got '$descr'" }
        return LongArray(size) { data.getLong(it * 8) }
    }

    fun strings(): List<String> {
        val width = unicodeWidth(descr) ?: throw IllegalArgumentException("expected a unicode string array ('<U...'), got '$descr'")
        return List(size) { i ->
            val sb = StringBuilder()
            var n = width
            while (n > 0 && data.getInt((i * width + n - 1) * 4) == 0) n--  // NumPy strips trailing NULs
            for (k in 0 until n) {
                val cp = data.getInt((i * width + k) * 4)
                require(Character.isValidCodePoint(cp)) { "invalid code point $cp in a string" }
                sb.appendCodePoint(cp)
            }
            sb.toString()
        }
    }

    companion object {
        private val MAGIC = byteArrayOf(0x93.toByte(), 'N'.code.toByte(), 'U'.code.toByte(), 'M'.code.toByte(), 'P'.code.toByte(), 'Y'.code.toByte())
        private const val MAX_HEADER = 1 shl 16

        private fun unicodeWidth(descr: String): Int? =
            if (descr.startsWith("<U")) descr.substring(2).toIntOrNull()?.takeIf { it in 1..(1 shl 20) } else null

        private fun itemSize(descr: String): Int = when (descr) {
            "<f4" -> 4
            "<i8" -> 8
            else -> unicodeWidth(descr)?.let { it * 4 } ?: throw IllegalArgumentException(
                "dtype '$descr' is not read here (a gallery holds little-endian float32 '<f4', int64 '<i8' and unicode " +
                    "'<U' arrays${if (descr.contains("O")) "; 'O' means pickled Python objects" else ""}" +
                    "${if (descr.startsWith(">")) "; '>' is big-endian" else ""})"
            )
        }

        /** A version 1.0 `.npy` file as NumPy 2 writes it: the header dict padded with spaces and a newline so the
         *  data starts at a multiple of 64 bytes. */
        fun write(descr: String, shape: IntArray, data: ByteArray): ByteArray {
            val dims = when (shape.size) {
                0 -> "()"
                1 -> "(${shape[0]},)"
                else -> shape.joinToString(", ", "(", ")")
            }
            val dict = "{'descr': '$descr', 'fortran_order': False, 'shape': $dims, }"
            // NumPy >= 1.24 leaves room for the first axis to grow to 21 digits, then pads to 64 bytes
            val growth = if (shape.isNotEmpty()) 21 - shape[0].toString().length else 0
            val pad = 64 - ((10 + dict.length + growth + 1) % 64)
            val header = dict + " ".repeat(growth + pad) + "\n"
            val out = java.io.ByteArrayOutputStream(10 + header.length + data.size)
            out.write(MAGIC)
            out.write(byteArrayOf(1, 0, (header.length and 0xFF).toByte(), (header.length shr 8).toByte()))
            out.write(header.toByteArray(Charsets.ISO_8859_1))
            out.write(data)
            return out.toByteArray()
        }

        /** A unicode array (`<U n`, n the longest string, at least 1) of [values]; [scalar]: shape () for one value. */
        fun strings(values: List<String>, scalar: Boolean = false): ByteArray {
            require(!scalar || values.size == 1) { "a scalar holds one string" }
            val points = values.map { it.codePoints().toArray() }
            val width = maxOf(1, points.maxOfOrNull { it.size } ?: 0)
            val data = ByteBuffer.allocate(values.size * width * 4).order(ByteOrder.LITTLE_ENDIAN)
            for (p in points) for (k in 0 until width) data.putInt(if (k < p.size) p[k] else 0)
            return write("<U$width", if (scalar) intArrayOf() else intArrayOf(values.size), data.array())
        }

        /** Parse one `.npy` file's bytes; [IllegalArgumentException] with the reason otherwise. */
        fun parse(bytes: ByteArray): NpyArray {
            require(bytes.size >= 10 && bytes.copyOfRange(0, 6).contentEquals(MAGIC)) { "not a .npy array (no \\x93NUMPY magic)" }
            val major = bytes[6].toInt()
            val minor = bytes[7].toInt()
            require(major in 1..3 && minor == 0) { ".npy format version $major.$minor is not read here (1.0-3.0)" }
            val buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
            val headerStart = if (major == 1) 10 else 12
            require(bytes.size >= headerStart) { "truncated .npy header" }
            val headerLen = if (major == 1) (buf.getShort(8).toInt() and 0xFFFF).toLong() else (buf.getInt(8).toLong() and 0xFFFFFFFFL)
            require(headerLen <= MAX_HEADER && headerStart + headerLen <= bytes.size) {
                ".npy header of $headerLen bytes does not fit the ${bytes.size}-byte array (limit $MAX_HEADER)"
            }
            val header = String(bytes, headerStart, headerLen.toInt(), if (major == 3) Charsets.UTF_8 else Charsets.ISO_8859_1)
            val descr = Regex("""'descr'\s*:\s*'([^']*)'""").find(header)?.groupValues?.get(1)
                ?: throw IllegalArgumentException("unsupported .npy dtype (header: ${header.trim()})")
            val fortran = Regex("""'fortran_order'\s*:\s*(True|False)""").find(header)?.groupValues?.get(1)
                ?: throw IllegalArgumentException(".npy header without fortran_order: ${header.trim()}")
            require(fortran == "False") { "Fortran-order arrays are not read here (save a C-order array)" }
            val shapeText = Regex("""'shape'\s*:\s*\(([^)]*)\)""").find(header)?.groupValues?.get(1)
                ?: throw IllegalArgumentException(".npy header without a shape: ${header.trim()}")
            val dims = shapeText.split(',').map { it.trim() }.filter { it.isNotEmpty() }.map {
                it.toIntOrNull()?.takeIf { d -> d >= 0 } ?: throw IllegalArgumentException("bad .npy shape ($shapeText)")
            }
            val item = itemSize(descr).toLong()
            var count = 1L
            for (d in dims) {
                count *= d
                require(count * item <= Int.MAX_VALUE) { ".npy array of shape (${dims.joinToString()}) is too large" }
            }
            val offset = headerStart + headerLen.toInt()
            require(count * item == (bytes.size - offset).toLong()) {
                ".npy array of shape (${dims.joinToString()}) and dtype '$descr' needs ${count * item} bytes, the file has ${bytes.size - offset}"
            }
            val data = ByteBuffer.wrap(bytes, offset, bytes.size - offset).slice().order(ByteOrder.LITTLE_ENDIAN)
            return NpyArray(descr, dims.toIntArray(), data)
        }
    }
}
