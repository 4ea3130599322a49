package lrfr.core

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class MetadataTest {
    private val withMetadata = File(Golden.dir, "model_metadata.tflite").readBytes()

    @Test
    fun readsTheDocumentPythonEmbedded() {
        assertEquals(Golden.json("tflite_metadata.json"), TfliteMetadata.read(withMetadata))
        assertNull(TfliteMetadata.read(File(Golden.dir, "model_plain.tflite").readBytes()))
    }

    @Test
    fun theContractAndThresholdsComeFromTheMetadata() {
        val metadata = TfliteMetadata.read(withMetadata)
        val (pre, source) = InputContract.resolve(metadata, null, 112, 96)
        assertEquals("metadata", source)
        assertEquals(Preprocessing(height = 112, width = 96, mean = 128.0, channels = "BGR", crop = 112 to 96), pre)
        val (buckets, from) = Decisions.thresholdsFromMetadata(metadata)
        assertEquals("metadata", from)
        assertEquals(Decisions.parseThresholds(Golden.list(Golden.json("decisions.json")["hand_table"])), buckets)
        // the wrong input size, a foreign 112x112 model, a foreign model of another size
        assertTrue(Golden.refusal { InputContract.resolve(metadata, null, 112, 112) }.contains("says 112x96"))
        assertEquals(Preprocessing.ARCFACE to "default", InputContract.resolve(null, null, 112, 112))
        assertEquals(Preprocessing.SPHEREFACE_112X96 to "flag", InputContract.resolve(null, Preprocessing.PRESETS["sphereface_112x96"], 112, 96))
        assertTrue(Golden.refusal { InputContract.resolve(null, null, 128, 128) }.contains("no lrfr_tf export metadata"))
    }

    @Test
    fun damagedOrForeignFilesAreRefusedNotCrashedOn() {
        assertTrue(Golden.refusal { TfliteMetadata.read("not a model".toByteArray()) }.contains("not a TFLite flatbuffer"))
        // every truncation of the file: a clear refusal (or no metadata), never an index exception
        for (n in 8 until withMetadata.size step 7) {
            try {
                TfliteMetadata.read(withMetadata.copyOfRange(0, n))
            } catch (e: IllegalArgumentException) {
                assertTrue(e.message!!, e.message!!.startsWith("model:"))
            }
        }
    }

    @Test
    fun jsonReaderHandlesWhatPythonWrites() {
        assertEquals(mapOf("a" to listOf(1.0, -2.5e-3, null, true, false), "b" to "é\"\\\n\u00e9"), Json.parse("""{"a": [1, -2.5e-3, null, true, false], "b": "\u00e9\"\\\n\u00e9"}"""))
        assertTrue((Json.parse("[NaN]") as List<*>)[0].let { it is Double && it.isNaN() })
        for (bad in listOf("{", "[1,]", "{\"a\" 1}", "01", "\"unterminated", "[1] x", "tru")) {
            try {
                Json.parse(bad)
                fail("parsed '$bad'")
            } catch (e: IllegalArgumentException) {
                assertTrue(e.message!!.startsWith("JSON:"))
            }
        }
    }
}
