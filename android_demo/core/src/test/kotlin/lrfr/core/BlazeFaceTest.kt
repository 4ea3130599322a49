package lrfr.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class BlazeFaceTest {
    private val g = Golden.json("blazeface.json")

    private fun detection(v: Any?): BlazeFace.Detection {
        val m = Golden.map(v)
        return BlazeFace.Detection(Golden.doubles(m["box"]), Golden.points(m["keypoints"]), (m["score"] as Number).toDouble())
    }

    private fun assertSame(what: String, expected: List<BlazeFace.Detection>, actual: List<BlazeFace.Detection>) {
        assertEquals("$what: number of faces", expected.size, actual.size)
        for ((e, a) in expected.zip(actual)) {
            for (j in 0 until 4) Golden.assertClose("$what box", e.box[j], a.box[j])
            for (k in 0 until 6) for (j in 0 until 2) Golden.assertClose("$what keypoints", e.keypoints[k][j], a.keypoints[k][j])
            Golden.assertClose("$what score", e.score, a.score)
        }
    }

    @Test
    fun anchorsArePythons() {
        for ((name, model) in listOf("short" to BlazeFace.SHORT, "full" to BlazeFace.FULL)) {
            val expected = Golden.map(Golden.map(g["anchors"])[name])
            val anchors = BlazeFace.anchorCentres(model.inputSize, model.strides, model.interpolatedScaleAspectRatio)
            assertEquals((expected["count"] as Number).toInt(), anchors.size)
            val sum = Golden.doubles(expected["sum"])
            Golden.assertCloseRel("anchor sum x", sum[0], anchors.sumOf { it[0] })
            Golden.assertCloseRel("anchor sum y", sum[1], anchors.sumOf { it[1] })
            for ((i, row) in Golden.map(expected["rows"])) {
                val r = Golden.doubles(row)
                assertEquals(r[0], anchors[i.toInt()][0], 1e-12); assertEquals(r[1], anchors[i.toInt()][1], 1e-12)
            }
        }
    }

    @Test
    fun decodingAndWeightedNmsArePythons() {
        val model = BlazeFace.FULL
        val anchors = BlazeFace.anchorCentres(model.inputSize, model.strides, model.interpolatedScaleAspectRatio)
        val rawBoxes = FloatArray(anchors.size * 16)
        val rawScores = FloatArray(anchors.size) { (g["background_logit"] as Number).toFloat() }
        val hot = Golden.doubles(g["hot_anchors"]).map { it.toInt() }
        val hotBoxes = Golden.list(g["hot_raw_boxes"]).map { Golden.doubles(it) }
        val hotScores = Golden.doubles(g["hot_raw_scores"])
        for ((k, i) in hot.withIndex()) {
            for (j in 0 until 16) rawBoxes[i * 16 + j] = hotBoxes[k][j].toFloat()
            rawScores[i] = hotScores[k].toFloat()
        }
        val decoded = BlazeFace.decode(rawBoxes, rawScores, anchors, model.inputSize, model.minScore)
        assertEquals((g["decoded_count"] as Number).toInt(), decoded.size)
        val faces = BlazeFace.weightedNms(decoded)
        assertSame("nms", Golden.list(g["nms"]).map(::detection), faces)
        assertEquals(2, faces.size)
        val five = Golden.list(g["five_points"]).map { Golden.points(it) }
        for ((f, e) in faces.zip(five)) {
            val p = BlazeFace.fivePoints(f.keypoints)
            for (k in 0 until 5) for (j in 0 until 2) Golden.assertClose("five points", e[k][j], p[k][j])
        }
    }

    @Test
    fun passesTilesAndTileEdgesArePythons() {
        val passes = Golden.list(g["passes"]).map { p ->
            val (m, faces) = Golden.list(p)
            (m as Number).toDouble() to Golden.list(faces).map(::detection)
        }
        assertSame("best across passes", Golden.list(g["best_across_passes"]).map(::detection), BlazeFace.bestAcrossPasses(passes))
        fun tiles(key: String) = Golden.list(g[key]).map { Golden.doubles(it).map(Double::toInt) }
        assertEquals(tiles("tiles_640x480_192_48"), BlazeFace.tileRegions(640, 480, 192, 48).map { it.toList() })
        assertEquals(tiles("tiles_1000x190_192_48"), BlazeFace.tileRegions(1000, 190, 192, 48).map { it.toList() })
        assertTrue(BlazeFace.tileRegions(190, 150, 192, 48).isEmpty())
        val boxes = Golden.list(g["probe_boxes"]).map { Golden.doubles(it) }
        for ((key, flags) in Golden.map(g["inside_tile"])) {
            val (x0, y0, t) = key.split(",").map { it.toInt() }
            assertEquals("tile $key", Golden.list(flags), boxes.map { BlazeFace.insideTile(it, x0, y0, t, 640, 480) })
        }
    }

    @Test
    fun aRegionMapsIntoTheInputAndBack() {
        // a 640x480 frame letterboxed into 192: side 640, the region starts 80 px above the frame
        val m = BlazeFace.regionMatrix(0, -80, 640, 192)
        val p = Alignment.apply(m, 320.0, 240.0)
        assertEquals(96.0, p[0], 1e-9); assertEquals(96.0, p[1], 1e-9)
        val d = BlazeFace.Detection(doubleArrayOf(0.5, 0.5, 0.6, 0.7), Array(6) { doubleArrayOf(0.5, 0.5) }, 0.9)
        val back = BlazeFace.toImage(d, 0, -80, 640)
        assertEquals(listOf(320.0, 240.0, 384.0, 368.0), back.box.toList())
        // black outside the frame with replicate = false, the frame's pixels inside
        val frame = ByteArray(4 * 4 * 3) { 200.toByte() }
        val input = Alignment.warpAffine(frame, 4, 4, BlazeFace.regionMatrix(0, -2, 8, 8), 8, 8, replicate = false)
        assertEquals(0, input[0].toInt() and 0xFF)  // row 0 lies above the frame
        assertEquals(200, input[(5 * 8 + 2) * 3].toInt() and 0xFF)  // row 5 = frame row 3
    }
}
