package lrfr.core

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class GalleryTest {
    private val g = Golden.json("decisions.json")
    private val sha = g["model_sha256"] as String
    private val file = File(Golden.dir, "gallery.npz")

    @Test
    fun readsWhatPythonEnrollWrites() {
        val gallery = Gallery.load(file, sha, 16)
        val expected = Golden.map(g["gallery"])
        assertEquals(Golden.list(expected["names"]), gallery.names)
        assertEquals(Golden.list(expected["sources"]), gallery.sources)
        assertEquals(listOf("ann", "bob", "cid", "dee"), gallery.identities)
        val rows = Golden.list(expected["embeddings"]).flatMap { Golden.doubles(it).toList() }
        assertEquals(rows.size, gallery.embeddings.size)
        for (i in rows.indices) Golden.assertClose("gallery embeddings", rows[i], gallery.embeddings[i].toDouble())
        // the sha256 the gallery is bound to is the file hash Gallery.sha256 computes
        val model = File.createTempFile("golden_model", ".bin")
        try {
            model.writeText(g["model_bytes"] as String)
            assertEquals(sha, Gallery.sha256(model))
        } finally {
            model.delete()
        }
    }

    @Test
    fun savedGalleryIsNumpysFileMemberForMember() {
        val gallery = Gallery.load(file, sha, 16)
        val out = File.createTempFile("gallery", ".npz")
        try {
            gallery.save(out)
            fun members(f: File) = java.util.zip.ZipFile(f).use { z ->
                z.entries().asSequence().associate { it.name to z.getInputStream(it).use { s -> s.readBytes() }.toList() }
            }
            assertEquals(members(file), members(out))  // what np.savez wrote, byte for byte
            val again = Gallery.load(out, sha, 16).withRow("eve", FloatArray(16) { it.toFloat() }, "phone")
            again.save(out)
            val read = Gallery.load(out, sha, 16)
            assertEquals(gallery.names + "eve", read.names)
            assertEquals("eve" to 1.0, read.bestMatch(FloatArray(16) { 2f * it }).let { it.first to Math.rint(it.second!! * 1e6) / 1e6 })
        } finally {
            out.delete()
        }
    }

    @Test
    fun unusableEmbeddingsAreRefusedNotMatched() {
        val gallery = Gallery.load(file, sha, 16)
        assertTrue(Golden.refusal { gallery.bestMatch(FloatArray(16) { if (it == 3) Float.NaN else 1f }) }.contains("NaN"))
        assertTrue(Golden.refusal { gallery.bestMatch(FloatArray(16)) }.contains("zero norm"))
        val out = File.createTempFile("zero", ".npz")
        try {
            Gallery(sha, 4, listOf("a", "b"), FloatArray(8) { if (it < 4) 1f else 0f }, listOf("1", "2")).save(out)
            assertTrue(Golden.refusal { Gallery.load(out, sha, 4) }.contains("row 1 is all zeros"))
        } finally {
            out.delete()
        }
    }

    @Test
    fun anotherModelsGalleryIsRefused() {
        val other = Gallery.sha256(File(Golden.dir, "model_metadata.tflite"))
        val e = Golden.refusal { Gallery.load(file, other, 16) }
        assertTrue(e, "enrolled with another model (sha256 ${sha.take(12)}" in e && "enroll again" in e)
        assertTrue(Golden.refusal { Gallery.load(file, sha, 128) }.contains("16-d embeddings, the model makes 128-d ones"))
    }

    @Test
    fun emptyGalleryAnswersNothing() {
        val empty = Gallery.load(File(Golden.dir, "gallery_empty.npz"), sha, 16)
        assertEquals(0, empty.size)
        assertEquals(null to null, empty.bestMatch(FloatArray(16) { 1f }))
    }

    @Test
    fun everyBadFileIsRefusedWithItsReason() {
        val described = Golden.json("bad_galleries.json")
        val reasons = mapOf(
            "float64.npz" to "'<f8'", "big_endian.npz" to "big-endian", "fortran.npz" to "Fortran-order",
            "pickled.npz" to "pickled", "version2.npz" to "format version 2", "missing_key.npz" to "missing sources",
            "shape_mismatch.npz" to "damaged gallery (3 names", "nan.npz" to "NaN", "dim_mismatch.npz" to "embedding_dim 8",
            "not_a_zip.npz" to "not a readable gallery", "truncated.npz" to "not a readable gallery",
        )
        assertEquals(reasons.keys, described.keys)
        for ((name, reason) in reasons) {
            val message = Golden.refusal { Gallery.load(File(Golden.dir, "bad/$name"), sha, 4) }
            assertTrue("$name: '$message' should say '$reason'", reason in message && "bad/$name" in message)
        }
    }

    @Test
    fun namesMustBeOneDimensional() {
        // the golden gallery with its names as a [5, 1] array (Python's reader would turn them into "['ann']")
        val out = File.createTempFile("names2d", ".npz")
        try {
            java.util.zip.ZipFile(file).use { src ->
                java.util.zip.ZipOutputStream(out.outputStream()).use { dst ->
                    for (e in src.entries()) {
                        dst.putNextEntry(java.util.zip.ZipEntry(e.name))
                        var bytes = src.getInputStream(e).use { it.readBytes() }
                        if (e.name == "names.npy") {
                            val names = NpyArray.parse(bytes).strings()
                            val width = names.maxOf { it.length }
                            val data = java.nio.ByteBuffer.allocate(names.size * width * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                            for (n in names) for (k in 0 until width) data.putInt(if (k < n.length) n[k].code else 0)
                            bytes = NpyArray.write("<U$width", intArrayOf(names.size, 1), data.array())
                        }
                        dst.write(bytes)
                        dst.closeEntry()
                    }
                }
            }
            assertTrue(Golden.refusal { Gallery.load(out, sha, 16) }.contains("names: expected a 1-D array, got shape (5, 1)"))
        } finally {
            out.delete()
        }
    }

    @Test
    fun npyHeaderIsCheckedBeforeDecoding() {
        val header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }".padEnd(117) + "\n"
        val bytes = byteArrayOf(0x93.toByte(), 'N'.code.toByte(), 'U'.code.toByte(), 'M'.code.toByte(), 'P'.code.toByte(), 'Y'.code.toByte(), 1, 0, 118, 0) +
            header.toByteArray() + ByteArray(16)
        assertTrue(Golden.refusal { NpyArray.parse(bytes) }.contains("too large"))
        val ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }".padEnd(117) + "\n"
        val short = bytes.copyOfRange(0, 10) + ok.toByteArray() + ByteArray(12)
        assertTrue(Golden.refusal { NpyArray.parse(short) }.contains("needs 16 bytes, the file has 12"))
        val huge = bytes.copyOfRange(0, 8) + byteArrayOf(0xFF.toByte(), 0xFF.toByte()) + ByteArray(20)
        assertTrue(Golden.refusal { NpyArray.parse(huge) }.contains("does not fit"))
        assertEquals(listOf(0f, 0f, 0f, 0f), NpyArray.parse(bytes.copyOfRange(0, 10) + ok.toByteArray() + ByteArray(16)).floats().toList())
    }

    @Test
    fun aMissingFileIsNamed() {
        try {
            Gallery.load(File(Golden.dir, "no_such.npz"))
            fail("loaded a missing file")
        } catch (e: java.io.FileNotFoundException) {
            assertTrue(e.message!!.contains("no_such.npz: no such file"))
        }
    }
}
