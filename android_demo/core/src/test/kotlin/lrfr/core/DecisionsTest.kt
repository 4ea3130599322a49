package lrfr.core

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class DecisionsTest {
    private val g = Golden.json("decisions.json")

    private fun buckets(rows: Any?): List<Bucket> = Golden.list(rows).map(Golden::map).map {
        Bucket((it["min_px"] as Number).toDouble(), (it["max_px"] as Number?)?.toDouble(), (it["threshold"] as Number?)?.toDouble(),
            (it["far"] as Number?)?.toDouble())
    }

    @Test
    fun defaultTableIsPythons() {
        assertEquals(buckets(g["default_buckets"]), Decisions.DEFAULT_THRESHOLDS)
    }

    @Test
    fun handTableParsesLikePython() {
        assertEquals(buckets(g["hand_buckets"]), Decisions.parseThresholds(Golden.list(g["hand_table"]), "hand table"))
    }

    @Test
    fun badTablesAreRefusedForPythonsReasons() {
        val phrases = listOf("overlap", "0 <= min_px < max_px", "not a cosine similarity", "expected {min_px", "non-numeric")
        val bad = Golden.list(g["bad_tables"]).map(Golden::map)
        assertEquals(8, bad.size)
        for (b in bad) {
            val pythonError = b["error"] as String
            val phrase = phrases.single { it in pythonError }
            try {
                Decisions.parseThresholds(Golden.list(b["rows"]), "bad table")
                fail("accepted ${b["rows"]} (Python: $pythonError)")
            } catch (e: IllegalArgumentException) {
                val message = e.message!!
                assertTrue("'$message' vs Python's '$pythonError'", phrase in message)
                assertEquals(pythonError.substringBefore(":"), message.substringBefore(":"))
            }
        }
    }

    @Test
    fun probesGetPythonsDecisions() {
        val sha = g["model_sha256"] as String
        val dim = (g["embedding_dim"] as Number).toInt()
        val gallery = Gallery.load(File(Golden.dir, "gallery.npz"), sha, dim)
        val empty = Gallery.load(File(Golden.dir, "gallery_empty.npz"), sha, dim)
        val hand = Decisions.parseThresholds(Golden.list(g["hand_table"]))
        val probes = Golden.list(g["probes"]).map(Golden::map)
        assertEquals(12, probes.size)
        val answers = HashSet<String>()
        for ((i, p) in probes.withIndex()) {
            val matrix = Alignment.alignmentMatrix(Golden.points(p["landmarks"]), Preprocessing.ARCFACE)
            val size = Decisions.facePx(matrix)
            Golden.assertCloseRel("probe face_px", (p["face_px"] as Number).toDouble(), size)
            val embedding = Golden.doubles(p["embedding"]).map { it.toFloat() }.toFloatArray()
            val (name, similarity) = gallery.bestMatch(embedding)
            assertEquals("probe $i best name", p["best_name"], name)
            Golden.assertClose("probe similarity", (p["best_similarity"] as Number).toDouble(), similarity!!)
            val (emptyName, emptySimilarity) = empty.bestMatch(embedding)
            for ((key, table, match) in listOf(Triple("hand", hand, name to similarity), Triple("default", Decisions.DEFAULT_THRESHOLDS, name to similarity),
                Triple("hand_empty_gallery", hand, emptyName to emptySimilarity))) {
                val expected = Golden.map(p[key])
                val d = Decisions.decide(size, match.first, match.second, table)
                assertEquals("probe $i ($key) answer", expected["answer"], d.answer)
                answers.add(d.answer)
                assertEquals("probe $i ($key) threshold", (expected["threshold"] as Number?)?.toDouble(), d.threshold)
                val bucket = expected["bucket"]?.let { Golden.list(it).map { v -> (v as Number?)?.toDouble() } }
                assertEquals("probe $i ($key) bucket", bucket, d.bucket?.let { listOf(it.minPx, it.maxPx) })
                if (expected["similarity"] == null) assertNull(d.similarity)
                else Golden.assertClose("decision similarity", (expected["similarity"] as Number).toDouble(), d.similarity!!)
            }
        }
        // the golden probes exercise every kind of answer
        assertTrue(answers.containsAll(listOf(Decisions.TOO_SMALL, Decisions.UNKNOWN, "ann", "bob", "cid", "dee")))
    }

    @Test
    fun thresholdIsInclusiveAndAboveEveryBucketTheLastApplies() {
        val table = listOf(Bucket(10.0, 20.0, 0.5), Bucket(20.0, 30.0, 0.4))
        assertEquals("ann", Decisions.decide(15.0, "ann", 0.5, table).answer)
        assertEquals(Decisions.UNKNOWN, Decisions.decide(15.0, "ann", 0.4999, table).answer)
        assertEquals(0.4, Decisions.decide(500.0, "ann", 0.45, table).threshold)
        assertEquals(Decisions.TOO_SMALL, Decisions.decide(9.99, "ann", 0.99, table).answer)
        assertEquals(Decisions.UNKNOWN, Decisions.decide(25.0, null, null, table).answer)
    }

    @Test
    fun metadataRowsWinOverTheDefaults() {
        assertEquals(Decisions.DEFAULT_THRESHOLDS to "default", Decisions.thresholdsFromMetadata(mapOf("thresholds" to emptyList<Any>())))
        assertEquals(Decisions.DEFAULT_THRESHOLDS to "default", Decisions.thresholdsFromMetadata(null))
        val rows = listOf(mapOf("min_px" to 0.0, "max_px" to null, "threshold" to 0.3))
        assertEquals(listOf(Bucket(0.0, null, 0.3)) to "metadata", Decisions.thresholdsFromMetadata(mapOf("thresholds" to rows)))
    }
}
