package lrfr.core

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue

/** The golden files of `android_demo/core/golden` (written by make_golden.py from the Python runtime). */
object Golden {
    /** Parity tolerance with the Python runtime. */
    const val TOL = 1e-5

    val dir: File = File(System.getProperty("lrfr.golden") ?: "golden").also {
        require(File(it, "alignment.json").isFile) { "golden files not found in ${it.absolutePath} (set -Dlrfr.golden)" }
    }

    @Suppress("UNCHECKED_CAST")
    fun json(name: String): Map<String, Any?> = Json.parse(File(dir, name).readText()) as Map<String, Any?>

    /** Largest deviation seen per check, printed by TestMain. */
    val worst = java.util.TreeMap<String, Double>()

    fun assertClose(what: String, expected: Double, actual: Double, tol: Double = TOL) {
        val err = Math.abs(expected - actual)
        synchronized(worst) { worst[what] = maxOf(worst[what] ?: 0.0, err) }
        assertTrue("$what: expected $expected, got $actual (|diff| $err > $tol)", err <= tol)
    }

    /** Relative closeness for checksums (sums over thousands of values). */
    fun assertCloseRel(what: String, expected: Double, actual: Double, tol: Double = TOL) {
        val err = Math.abs(expected - actual) / maxOf(1.0, Math.abs(expected))
        synchronized(worst) { worst["$what (relative)"] = maxOf(worst["$what (relative)"] ?: 0.0, err) }
        assertTrue("$what: expected $expected, got $actual (relative diff $err > $tol)", err <= tol)
    }

    fun map(v: Any?): Map<String, Any?> {
        @Suppress("UNCHECKED_CAST")
        return v as Map<String, Any?>
    }
    fun list(v: Any?): List<Any?> = v as List<Any?>
    fun doubles(v: Any?): DoubleArray = list(v).map { (it as Number).toDouble() }.toDoubleArray()
    fun points(v: Any?): Array<DoubleArray> = list(v).map { doubles(it) }.toTypedArray()
    /** A 2x3 matrix from [[a, b, tx], [c, d, ty]]. */
    fun matrix(v: Any?): DoubleArray = list(v).flatMap { doubles(it).toList() }.toDoubleArray()
    fun preprocessing(v: Any?): Preprocessing = Preprocessing.fromConfig(map(v))

    fun assertMatrix(what: String, expected: DoubleArray, actual: DoubleArray) {
        assertEquals(6, actual.size)
        for (k in 0 until 6) assertClose(what, expected[k], actual[k])
    }

    /** The deterministic RGB picture of make_golden.synthetic_image. */
    fun syntheticImage(h: Int, w: Int): ByteArray {
        val out = ByteArray(h * w * 3)
        for (y in 0 until h) for (x in 0 until w) for (c in 0 until 3) {
            out[(y * w + x) * 3 + c] = ((x * 7 + y * 13 + c * 50 + (x * y) % 17) % 256).toByte()
        }
        return out
    }

    /** The message of the IllegalArgumentException [block] throws (fails the test when it throws none). */
    fun refusal(block: () -> Unit): String {
        try {
            block()
        } catch (e: IllegalArgumentException) {
            return e.message!!
        }
        org.junit.Assert.fail("no IllegalArgumentException")
        throw AssertionError()
    }

    fun sha256(bytes: ByteArray): String =
        java.security.MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
}
