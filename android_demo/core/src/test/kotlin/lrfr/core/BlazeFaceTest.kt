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
    fun detectorInputAndTheWayBackArePythons() {
        val d = Golden.json("detector_input.json")
        val (h, w) = Golden.doubles(d["image_size"]).let { it[0].toInt() to it[1].toInt() }
        val image = Golden.syntheticImage(h, w)
        val model = BlazeFace.SHORT
        val anchors = BlazeFace.anchorCentres(model.inputSize, model.strides, model.interpolatedScaleAspectRatio)
        val rawBoxes = FloatArray(anchors.size * 16)
        val rawScores = FloatArray(anchors.size) { (d["background_logit"] as Number).toFloat() }
        val hot = (d["hot_anchor"] as Number).toInt()
        Golden.doubles(d["hot_raw_box"]).forEachIndexed { j, v -> rawBoxes[hot * 16 + j] = v.toFloat() }
        rawScores[hot] = (d["hot_logit"] as Number).toFloat()
        val cases = Golden.list(d["cases"]).map(Golden::map)
        assertEquals(4, cases.size)
        for (c in cases) {
            val (x0, y0, side) = Golden.doubles(c["region"]).map { it.toInt() }
            val region = BlazeFace.regionInput(image, h, w, x0, y0, side, model.inputSize)
            val pixels = ByteArray(region.tensor.size) { Math.rint((region.tensor[it] + 1.0) * 127.5).toInt().toByte() }
            val all = c["input"] as String?
            if (all == null) {
                assertEquals("${c["name"]} input bytes", c["input_sha256"], Golden.sha256(pixels))
            } else {
                val expected = java.util.Base64.getDecoder().decode(all)
                var worst = 0; var differing = 0
                for (i in pixels.indices) {
                    val diff = Math.abs((pixels[i].toInt() and 0xFF) - (expected[i].toInt() and 0xFF))
                    worst = maxOf(worst, diff); if (diff != 0) differing++
                }
                Golden.worst["detector input grey levels (max, ${c["name"]})"] = worst.toDouble()
                assertTrue("${c["name"]}: up to $worst grey levels in $differing values", worst <= 1 && differing <= pixels.size / 1000)
            }
            val faces = BlazeFace.decode(rawBoxes, rawScores, anchors, model.inputSize, model.minScore).map(region::toImage)
            assertEquals(1, faces.size)
            val box = Golden.doubles(Golden.list(c["boxes"])[0])
            val kps = Golden.points(Golden.list(c["keypoints"])[0])
            for (j in 0 until 4) Golden.assertClose("detector box in frame pixels", box[j], faces[0].box[j])
            for (k in 0 until 6) for (j in 0 until 2) Golden.assertClose("detector keypoints in frame pixels", kps[k][j], faces[0].keypoints[k][j])
        }
    }
}
