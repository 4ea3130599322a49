package lrfr.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class PreprocessingTest {
    private val cases = Golden.list(Golden.json("preprocessing.json")["cases"]).map(Golden::map)
    private val warpFace = java.util.Base64.getDecoder().decode(Golden.json("warp.json")["face"] as String)

    private fun quantization(v: Any?): Quantization? {
        val q = v as? Map<*, *> ?: return null
        val dtype = if (q["dtype"] == "int8") Quantization.DType.INT8 else Quantization.DType.UINT8
        return Quantization(dtype, (q["scale"] as Number).toFloat(), (q["zero_point"] as Number).toInt())
    }

    /** The model input of [face] as doubles (float values, or quantised levels) and its little-endian bytes. */
    private fun modelInput(face: ByteArray, h: Int, w: Int, pre: Preprocessing, q: Quantization?): Pair<DoubleArray, ByteArray> {
        val x = ModelInput.normalize(face, h, w, pre)
        if (q == null) {
            val bytes = java.nio.ByteBuffer.allocate(x.size * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            x.forEach { bytes.putFloat(it) }
            return x.map { it.toDouble() }.toDoubleArray() to bytes.array()
        }
        val levels = ModelInput.quantize(x, q)
        return levels.map { ModelInput.level(it, q.dtype).toDouble() }.toDoubleArray() to levels
    }

    @Test
    fun smallCropValuesMatchPython() {
        assertEquals(5, cases.size)
        for (c in cases) {
            val small = Golden.map(c["small"])
            val shape = Golden.doubles(small["shape"]).map { it.toInt() }
            val crop = Golden.doubles(small["crop"]).map { it.toInt().toByte() }.toByteArray()
            // the crop is at the model size here: a contract of that size
            val pre = Golden.preprocessing(c["preprocessing"]).copy(height = shape[0], width = shape[1])
            val (values, _) = modelInput(crop, shape[0], shape[1], pre, quantization(c["quantization"]))
            val expected = Golden.doubles(small["values"])
            assertEquals(expected.size, values.size)
            for (i in values.indices) Golden.assertClose("small crop ${c["name"]}", expected[i], values[i])
            if (c["quantization"] != null) assertTrue(values.zip(expected.toList()).all { (a, b) -> a == b })
        }
    }

    @Test
    fun alignedFaceChecksumsMatchPython() {
        for (c in cases) {
            val pre = Golden.preprocessing(c["preprocessing"])
            val (values, bytes) = modelInput(warpFace, 112, 112, pre, quantization(c["quantization"]))
            val sums = Golden.map(Golden.map(c["aligned112"])["checksums"])
            var sum = 0.0; var sq = 0.0; var weighted = 0.0
            for (i in values.indices) { sum += values[i]; sq += values[i] * values[i]; weighted += values[i] * (i % 7 + 1) }
            Golden.assertCloseRel("aligned112 sum ${c["name"]}", (sums["sum"] as Number).toDouble(), sum)
            Golden.assertCloseRel("aligned112 sum of squares ${c["name"]}", (sums["sum_squares"] as Number).toDouble(), sq)
            Golden.assertCloseRel("aligned112 weighted sum ${c["name"]}", (sums["weighted_sum"] as Number).toDouble(), weighted)
            // float32 arithmetic in the same order as NumPy's: the very same bytes
            assertEquals("model input bytes of ${c["name"]}", sums["sha256"], Golden.sha256(bytes))
        }
    }

    @Test
    fun quantisationRoundsHalfToEvenAndSaturates() {
        val q = Quantization(Quantization.DType.INT8, 0.5f, 0)
        val levels = ModelInput.quantize(floatArrayOf(0.25f, 0.75f, -0.25f, 1000f, -1000f), q).map { it.toInt() }
        assertEquals(listOf(0, 2, 0, 127, -128), levels)  // 0.5 -> 0, 1.5 -> 2, -0.5 -> -0
        val u = Quantization(Quantization.DType.UINT8, 1f / 128f, 128)
        assertEquals(listOf(0, 255, 128), ModelInput.quantize(floatArrayOf(-5f, 5f, 0f), u).map { ModelInput.level(it, u.dtype) })
        assertEquals(listOf(-1f, 0.9921875f), ModelInput.dequantize(byteArrayOf(0, 255.toByte()), u).toList())
    }

    @Test
    fun bgrSwapsChannelsAndCropBoxRoundsLikePython() {
        val pre = Preprocessing(height = 1, width = 1, mean = 0.0, scale = 1.0, channels = "BGR")
        assertEquals(listOf(3f, 2f, 1f), ModelInput.normalize(byteArrayOf(1, 2, 3), 1, 1, pre).toList())
        // 112 * 96 / 112 = 96, centred: 8 columns off each side; 7 * 96 / 112 = 6 -> (0, 0, 7, 6); half to even: 2.5 -> 2
        assertEquals(listOf(0, 8, 112, 96), Preprocessing.SPHEREFACE_112X96.cropBox(112, 112).toList())
        assertEquals(listOf(0, 0, 7, 6), Preprocessing.SPHEREFACE_112X96.cropBox(7, 7).toList())
        assertEquals(2, Preprocessing(crop = 112 to 56).cropBox(5, 5)[3])
    }

    @Test
    fun l2NormalizeGivesUnitRows() {
        val v = ModelInput.l2Normalize(floatArrayOf(3f, 4f))
        assertEquals(0.6f, v[0], 1e-7f); assertEquals(0.8f, v[1], 1e-7f)
        assertEquals(listOf(0f, 0f), ModelInput.l2Normalize(floatArrayOf(0f, 0f)).toList())
    }

    @Test(expected = IllegalArgumentException::class)
    fun aFaceOfTheWrongSizeIsRefused() {
        ModelInput.normalize(ByteArray(10 * 10 * 3), 10, 10, Preprocessing.ARCFACE)
    }
}
