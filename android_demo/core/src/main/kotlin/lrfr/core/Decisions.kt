package lrfr.core

/**
 * Resolution-aware decisions, as `lrfr_tf.edge.decisions`: a face's size is `face_px = 112 / c` (c the scale of the
 * similarity aligning its landmarks: the side in camera pixels of the region the aligned 112x112 face covers); its
 * bucket (`minPx <= face_px < maxPx`) gives the threshold; a bucket without one, or no bucket, is "too small";
 * below the threshold "unknown"; else the best gallery identity.
 */
data class Bucket(val minPx: Double, val maxPx: Double?, val threshold: Double?, val far: Double? = null) {
    fun contains(facePx: Double): Boolean = facePx >= minPx && (maxPx == null || facePx < maxPx)
}

data class Decision(val answer: String, val similarity: Double?, val threshold: Double?, val bucket: Bucket?)

object Decisions {
    const val TOO_SMALL = "too small"
    const val UNKNOWN = "unknown"
    const val TEMPLATE_SIZE = 112.0

    /** `DEFAULT_THRESHOLDS` of lrfr_tf/edge/decisions.py (measured for the pretrained MobileFaceNet; a golden test
     *  keeps the two equal). */
    val DEFAULT_THRESHOLDS: List<Bucket> = listOf(
        Bucket(0.0, 12.0, null),
        Bucket(12.0, 16.0, null),
        Bucket(16.0, 24.0, 0.46, 1e-3),
        Bucket(24.0, 40.0, 0.47, 1e-3),
        Bucket(40.0, null, 0.48, 1e-3),
    )

    /** Buckets from metadata rows `{min_px, max_px, threshold, far}`, sorted by minPx; [IllegalArgumentException]
     *  naming [what] for a malformed or overlapping table (the checks and messages of `parse_thresholds`). */
    fun parseThresholds(rows: List<Any?>, what: String = "thresholds"): List<Bucket> {
        val buckets = ArrayList<Bucket>()
        for ((i, row) in rows.withIndex()) {
            if (row !is Map<*, *> || !row.containsKey("min_px") || !row.containsKey("threshold")) {
                throw IllegalArgumentException("$what[$i]: expected {min_px, max_px, threshold, far}, got $row")
            }
            val low: Double; val high: Double?; val threshold: Double?; val far: Double?
            try {
                low = number(row["min_px"])!!
                high = number(row["max_px"])
                threshold = number(row["threshold"])
                far = number(row["far"])
            } catch (e: RuntimeException) {
                throw IllegalArgumentException("$what[$i]: non-numeric values in $row")
            }
            if (!low.isFinite() || low < 0 || (high != null && !(high > low))) {
                throw IllegalArgumentException("$what[$i]: expected 0 <= min_px < max_px, got $row")
            }
            if (threshold != null && !(threshold >= -1.0 && threshold <= 1.0)) {
                throw IllegalArgumentException("$what[$i]: threshold $threshold is not a cosine similarity in [-1, 1]")
            }
            buckets.add(Bucket(low, high, threshold, far))
        }
        buckets.sortBy { it.minPx }
        for (k in 0 until buckets.size - 1) {
            val a = buckets[k]; val b = buckets[k + 1]
            if (a.maxPx == null || a.maxPx > b.minPx) {
                throw IllegalArgumentException("$what: buckets [${a.minPx}, ${a.maxPx}) and [${b.minPx}, ${b.maxPx}) overlap")
            }
        }
        return buckets
    }

    /** Python's float(): numbers and numeric strings; null stays null; anything else (booleans included) fails. */
    private fun number(v: Any?): Double? = when (v) {
        null -> null
        is Boolean -> throw NumberFormatException("boolean")
        is Number -> v.toDouble()
        is String -> v.trim().toDouble()
        else -> throw NumberFormatException("not a number")
    }

    /** (buckets, source): the export metadata's calibrated `thresholds` rows ("metadata"), else the defaults ("default"). */
    fun thresholdsFromMetadata(metadata: Map<String, Any?>?): Pair<List<Bucket>, String> {
        val rows = metadata?.get("thresholds") as? List<*>
        if (!rows.isNullOrEmpty()) return parseThresholds(rows, "model metadata thresholds") to "metadata"
        return DEFAULT_THRESHOLDS to "default"
    }

    /** The face's resolution from its 2x3 alignment matrix `[a, b, tx, c, d, ty]`: `112 / hypot(a, b)`. */
    fun facePx(matrix: DoubleArray): Double = TEMPLATE_SIZE / maxOf(Math.hypot(matrix[0], matrix[1]), 1e-12)

    /** The bucket holding [sizePx]; the last one above every bucket; null below every bucket or in a gap. */
    fun bucketFor(sizePx: Double, buckets: List<Bucket>): Bucket? {
        for (b in buckets) if (b.contains(sizePx)) return b
        val last = buckets.lastOrNull()
        if (last?.maxPx != null && sizePx >= last.maxPx) return last
        return null
    }

    /** The answer for a face of [sizePx] whose best gallery match is [bestName] at [bestSimilarity] (null, null: an
     *  empty gallery). */
    fun decide(sizePx: Double, bestName: String?, bestSimilarity: Double?, buckets: List<Bucket>): Decision {
        val bucket = bucketFor(sizePx, buckets)
        if (bucket?.threshold == null) return Decision(TOO_SMALL, bestSimilarity, null, bucket)
        if (bestName == null || bestSimilarity == null || bestSimilarity < bucket.threshold) {
            return Decision(UNKNOWN, bestSimilarity, bucket.threshold, bucket)
        }
        return Decision(bestName, bestSimilarity, bucket.threshold, bucket)
    }
}
