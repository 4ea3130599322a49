package lrfr.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class AlignmentTest {
    private val cases = Golden.list(Golden.json("alignment.json")["cases"])

    @Test
    fun templatesMatchPythonTemplateFor() {
        assertEquals(8, cases.size)
        for (c in cases.map(Golden::map)) {
            val template = Alignment.templateFor(Golden.preprocessing(c["preprocessing"]))
            val expected = Golden.points(c["template"])
            for (k in 0 until 5) for (j in 0 until 2) Golden.assertClose("template ${c["name"]}", expected[k][j], template[k][j])
        }
    }

    @Test
    fun umeyamaMatchesPythonOnEveryCase() {
        for (c in cases.map(Golden::map)) {
            val pre = Golden.preprocessing(c["preprocessing"])
            val m = Alignment.alignmentMatrix(Golden.points(c["landmarks"]), pre)
            Golden.assertMatrix("matrix ${c["name"]}", Golden.matrix(c["matrix"]), m)
            Golden.assertClose("determinant ${c["name"]}", (c["determinant"] as Number).toDouble(), m[0] * m[4] - m[1] * m[3])
            Golden.assertCloseRel("face_px ${c["name"]}", (c["face_px"] as Number).toDouble(), Decisions.facePx(m))
        }
    }

    @Test
    fun mirroredLandmarksGiveARotationNotAReflection() {
        val c = cases.map(Golden::map).single { it["name"] == "mirrored" }
        val m = Alignment.alignmentMatrix(Golden.points(c["landmarks"]), Preprocessing.ARCFACE)
        assertTrue("a similarity, not a reflection: det ${m[0] * m[4] - m[1] * m[3]}", m[0] * m[4] - m[1] * m[3] > 0)
        // a reflection would fit the mirrored template exactly (scale 1); the best rotation fits it badly
        assertTrue(Math.hypot(m[0], m[1]) < 0.5)
    }

    @Test
    fun umeyamaRecoversAnExactSimilarity() {
        val rnd = java.util.Random(3)
        repeat(20) {
            val angle = rnd.nextDouble() * 2 * Math.PI
            val scale = 0.05 + rnd.nextDouble() * 5
            val tx = rnd.nextGaussian() * 100; val ty = rnd.nextGaussian() * 100
            val src = Array(5) { doubleArrayOf(rnd.nextGaussian() * 30, rnd.nextGaussian() * 30) }
            val dst = Array(5) { k ->
                val (x, y) = src[k][0] to src[k][1]
                doubleArrayOf(scale * (Math.cos(angle) * x - Math.sin(angle) * y) + tx, scale * (Math.sin(angle) * x + Math.cos(angle) * y) + ty)
            }
            val m = Alignment.umeyama(src, dst)
            val expected = doubleArrayOf(scale * Math.cos(angle), -scale * Math.sin(angle), tx, scale * Math.sin(angle), scale * Math.cos(angle), ty)
            for (k in 0 until 6) assertEquals(expected[k], m[k], 1e-9 * maxOf(1.0, Math.abs(expected[k])))
        }
    }

    @Test
    fun faceSizeIsTemplateWidthOverScale() {
        val m = doubleArrayOf(0.0, 4.0, 1.0, -4.0, 0.0, 2.0)  // scale 4, rotated 90 degrees
        assertEquals(28.0, Decisions.facePx(m), 1e-12)
    }

    @Test(expected = IllegalArgumentException::class)
    fun coincidentSourcePointsAreRefused() {
        Alignment.umeyama(Array(5) { doubleArrayOf(1.0, 1.0) }, Alignment.TEMPLATE_112)
    }

    @Test
    fun warpReproducesPythonAlignByteForByte() {
        val g = Golden.json("warp.json")
        val (h, w) = Golden.doubles(g["image_size"]).let { it[0].toInt() to it[1].toInt() }
        val image = Golden.syntheticImage(h, w)
        val m = Alignment.alignmentMatrix(Golden.points(g["landmarks"]), Preprocessing.ARCFACE)
        Golden.assertMatrix("warp matrix", Golden.matrix(g["matrix"]), m)
        val face = Alignment.warpAffine(image, h, w, Golden.matrix(g["matrix"]), 112, 112)
        val expected = java.util.Base64.getDecoder().decode(g["face"] as String)
        assertEquals(expected.size, face.size)
        var worst = 0
        var differing = 0
        for (i in face.indices) {
            val d = Math.abs((face[i].toInt() and 0xFF) - (expected[i].toInt() and 0xFF))
            worst = maxOf(worst, d)
            if (d != 0) differing++
        }
        Golden.worst["warp grey levels (max)"] = worst.toDouble()
        Golden.worst["warp differing values"] = differing.toDouble()
        assertTrue("warp differs by up to $worst grey levels in $differing values", worst <= 1 && differing <= face.size / 1000)
    }

    @Test
    fun warpReplicatesTheBorder() {
        val image = Golden.syntheticImage(4, 4)
        // output pixel x samples camera x + 1000, far right of the frame: every pixel repeats the last column of its row
        val m = doubleArrayOf(1.0, 0.0, -1000.0, 0.0, 1.0, 0.0)
        val face = Alignment.warpAffine(image, 4, 4, m, 4, 4)
        for (y in 0 until 4) for (x in 0 until 4) for (c in 0 until 3) {
            assertEquals(image[(y * 4 + 3) * 3 + c], face[(y * 4 + x) * 3 + c])
        }
    }
}
