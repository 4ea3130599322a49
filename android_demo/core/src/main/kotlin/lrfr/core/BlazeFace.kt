package lrfr.core

/**
 * BlazeFace's post-processing and tiling, as `lrfr_tf.edge.detector` (MediaPipe's face_detection graph options):
 * fixed-size SSD anchors, decoding of the 16 regression values per anchor (box centre, size, six keypoints) and the
 * logit, weighted non-maximum suppression, overlapping tiles for small faces and the choice across passes; the five
 * template points from the keypoints (`lrfr_tf.edge.landmarks.five_points_from_keypoints`). The interpreter runs
 * in the app; everything after its two output tensors is here and checked against the Python runtime.
 */
object BlazeFace {
    const val NUM_KEYPOINTS = 6
    const val SCORE_CLIP = 100.0
    const val NMS_IOU = 0.3

    /** One model variant: input side, SSD strides, interpolated-scale aspect ratio, score threshold. */
    data class Model(val filename: String, val inputSize: Int, val strides: IntArray, val interpolatedScaleAspectRatio: Double, val minScore: Double)

    val SHORT = Model("face_detection_short_range.tflite", 128, intArrayOf(8, 16, 16, 16), 1.0, 0.5)
    val FULL = Model("face_detection_full_range.tflite", 192, intArrayOf(4), 0.0, 0.6)

    /** A face in image pixels: box (x0, y0, x1, y1), six keypoints (x, y) (the subject's right eye, left eye, nose
     *  tip, mouth centre, right and left ear tragion), score. */
    class Detection(val box: DoubleArray, val keypoints: Array<DoubleArray>, val score: Double) {
        val height: Double get() = box[3] - box[1]
    }

    /** Anchor centres (x, y) in [0, 1], in the model's output order. */
    fun anchorCentres(inputSize: Int, strides: IntArray, interpolatedScaleAspectRatio: Double): Array<DoubleArray> {
        val out = ArrayList<DoubleArray>()
        var layer = 0
        while (layer < strides.size) {
            var end = layer
            while (end < strides.size && strides[end] == strides[layer]) end++
            val perCell = (end - layer) * (if (interpolatedScaleAspectRatio > 0) 2 else 1)
            val grid = Math.ceil(inputSize.toDouble() / strides[layer]).toInt()
            for (y in 0 until grid) for (x in 0 until grid) {
                // float32 like the Python runtime's anchors
                val cx = ((x + 0.5) / grid).toFloat().toDouble(); val cy = ((y + 0.5) / grid).toFloat().toDouble()
                repeat(perCell) { out.add(doubleArrayOf(cx, cy)) }
            }
            layer = end
        }
        return out.toTypedArray()
    }

    /** Detections (in [0, 1] input coordinates) of the anchors scoring at least [minScore]; [rawBoxes] is
     *  [anchors x 16], [rawScores] [anchors] logits. */
    fun decode(rawBoxes: FloatArray, rawScores: FloatArray, anchors: Array<DoubleArray>, inputSize: Int, minScore: Double): List<Detection> {
        val n = anchors.size
        require(rawScores.size == n && rawBoxes.size == n * (4 + 2 * NUM_KEYPOINTS)) {
            "BlazeFace outputs: ${rawBoxes.size} box values and ${rawScores.size} scores for $n anchors"
        }
        val out = ArrayList<Detection>()
        val stride = 4 + 2 * NUM_KEYPOINTS
        for (i in 0 until n) {
            val score = 1.0 / (1.0 + Math.exp(-rawScores[i].toDouble().coerceIn(-SCORE_CLIP, SCORE_CLIP)))
            if (!(score >= minScore)) continue
            // float32 division like NumPy's float32 arrays, then the anchor (float32) added
            fun raw(k: Int): Float = rawBoxes[i * stride + k] / inputSize.toFloat()
            val ax = anchors[i][0].toFloat(); val ay = anchors[i][1].toFloat()
            val cx = raw(0) + ax; val cy = raw(1) + ay
            val hw = raw(2) / 2.0f; val hh = raw(3) / 2.0f
            val box = doubleArrayOf((cx - hw).toDouble(), (cy - hh).toDouble(), (cx + hw).toDouble(), (cy + hh).toDouble())
            val kps = Array(NUM_KEYPOINTS) { k -> doubleArrayOf((raw(4 + 2 * k) + ax).toDouble(), (raw(5 + 2 * k) + ay).toDouble()) }
            out.add(Detection(box, kps, score))
        }
        return out
    }

    fun iou(a: DoubleArray, b: DoubleArray): Double {
        val inter = maxOf(minOf(a[2], b[2]) - maxOf(a[0], b[0]), 0.0) * maxOf(minOf(a[3], b[3]) - maxOf(a[1], b[1]), 0.0)
        fun area(r: DoubleArray) = maxOf(r[2] - r[0], 0.0) * maxOf(r[3] - r[1], 0.0)
        val union = area(a) + area(b) - inter
        return if (union > 0) inter / maxOf(union, 1e-12) else 0.0
    }

    /** Weighted NMS: the best remaining face absorbs every face overlapping it by more than [iouThreshold]; its box
     *  and keypoints become their score-weighted mean, its score the best one. */
    fun weightedNms(detections: List<Detection>, iouThreshold: Double = NMS_IOU): List<Detection> {
        var remaining = detections.sortedByDescending { it.score }  // stable, as np.argsort(kind="stable")
        val faces = ArrayList<Detection>()
        while (remaining.isNotEmpty()) {
            val first = remaining[0]
            val group = remaining.filterIndexed { k, d -> k == 0 || iou(first.box, d.box) > iouThreshold }
            val total = group.sumOf { it.score }
            val box = DoubleArray(4) { j -> group.sumOf { it.box[j] * (it.score / total) } }
            val kps = Array(NUM_KEYPOINTS) { k -> DoubleArray(2) { j -> group.sumOf { it.keypoints[k][j] * (it.score / total) } } }
            faces.add(Detection(box, kps, first.score))
            remaining = remaining.filterIndexed { k, d -> !(k == 0 || iou(first.box, d.box) > iouThreshold) }
        }
        return faces
    }

    /** Faces of several (magnification, faces) passes; a face overlapping an already kept one of a more magnified
     *  pass (or of the same one with a better score) by more than [iouThreshold] is dropped. Best score first. */
    fun bestAcrossPasses(passes: List<Pair<Double, List<Detection>>>, iouThreshold: Double = NMS_IOU): List<Detection> {
        val ranked = passes.flatMap { (m, faces) -> faces.map { m to it } }
            .sortedWith(compareBy<Pair<Double, Detection>>({ -it.first }, { -it.second.score }))
        val kept = ArrayList<Detection>()
        for ((_, face) in ranked) if (kept.none { iou(face.box, it.box) > iouThreshold }) kept.add(face)
        return kept.sortedByDescending { it.score }
    }

    /** Square tiles (x0, y0, side) covering a [width] x [height] frame, neighbours overlapping by >= [overlap] px;
     *  none when the frame fits in one tile. */
    fun tileRegions(width: Int, height: Int, tileSize: Int, overlap: Int): List<IntArray> {
        if (tileSize <= 0 || (width <= tileSize && height <= tileSize)) return emptyList()
        fun starts(extent: Int): List<Int> {
            if (extent <= tileSize) return listOf(0)
            val count = Math.ceil((extent - overlap).toDouble() / (tileSize - overlap)).toInt()
            return if (count > 1) List(count) { i -> Math.rint(i.toDouble() * (extent - tileSize) / (count - 1)).toInt() } else listOf(0)
        }
        return starts(height).flatMap { y -> starts(width).map { x -> intArrayOf(x, y, tileSize) } }
    }

    /** Whether a face found in tile (x0, y0, tile) is not cut by a tile edge lying inside the frame. */
    fun insideTile(box: DoubleArray, x0: Int, y0: Int, tile: Int, width: Int, height: Int, margin: Double = 2.0): Boolean =
        (x0 <= 0 || box[0] > x0 + margin) && (y0 <= 0 || box[1] > y0 + margin) &&
            (x0 + tile >= width || box[2] < x0 + tile - margin) && (y0 + tile >= height || box[3] < y0 + tile - margin)

    /** Half the template's mouth width over its eye distance. */
    val MOUTH_HALF_WIDTH_PER_EYE_DISTANCE: Double = run {
        val t = Alignment.TEMPLATE_112
        Math.hypot(t[4][0] - t[3][0], t[4][1] - t[3][1]) / Math.hypot(t[1][0] - t[0][0], t[1][1] - t[0][1]) / 2
    }

    /** The five template-order points from BlazeFace's keypoints: eyes and nose as given, mouth corners on the
     *  mouth centre +- 0.41 x the eye-to-eye vector. */
    fun fivePoints(keypoints: Array<DoubleArray>): Array<DoubleArray> {
        val (re, le, nose, mouth) = listOf(keypoints[0], keypoints[1], keypoints[2], keypoints[3])
        val hx = MOUTH_HALF_WIDTH_PER_EYE_DISTANCE * (le[0] - re[0]); val hy = MOUTH_HALF_WIDTH_PER_EYE_DISTANCE * (le[1] - re[1])
        return arrayOf(re.copyOf(), le.copyOf(), nose.copyOf(), doubleArrayOf(mouth[0] - hx, mouth[1] - hy), doubleArrayOf(mouth[0] + hx, mouth[1] + hy))
    }

    /** The detector's input for a square region of the frame and the way back to frame pixels. */
    class Region(val tensor: FloatArray, private val gainX: Float, private val gainY: Float, private val originX: Float,
                 private val originY: Float, private val inputSize: Int) {
        /** A detection in [0, 1] input coordinates -> frame pixels (float32 like the Python runtime). */
        fun toImage(d: Detection): Detection {
            fun x(u: Double) = ((u.toFloat() * inputSize / gainX) + originX).toDouble()
            fun y(v: Double) = ((v.toFloat() * inputSize / gainY) + originY).toDouble()
            return Detection(doubleArrayOf(x(d.box[0]), y(d.box[1]), x(d.box[2]), y(d.box[3])),
                Array(NUM_KEYPOINTS) { doubleArrayOf(x(d.keypoints[it][0]), y(d.keypoints[it][1])) }, d.score)
        }
    }

    /**
     * The [inputSize] square input (NHWC float, [-1, 1], -1 where the region leaves the frame) for the square region
     * (x0, y0, side) of an RGB frame, as `FaceDetector._run` makes it: the part of the frame inside the region resized
     * to `round(extent * inputSize / side)` pixels with area averaging when shrinking ([Alignment.resizeArea], OpenCV's
     * INTER_AREA) and placed at the rounded offset. Enlarging (tiles smaller than the input) uses the bilinear warp
     * (OpenCV's INTER_LINEAR rounds differently by a grey level or so).
     */
    fun regionInput(rgb: ByteArray, h: Int, w: Int, x0: Int, y0: Int, side: Int, inputSize: Int): Region {
        val cx0 = maxOf(x0, 0); val cy0 = maxOf(y0, 0)
        val cw = minOf(x0 + side, w) - cx0; val ch = minOf(y0 + side, h) - cy0
        require(cw > 0 && ch > 0) { "region ($x0, $y0, $side) does not overlap the ${w}x$h frame" }
        val crop = ByteArray(cw * ch * 3)
        for (y in 0 until ch) System.arraycopy(rgb, ((cy0 + y) * w + cx0) * 3, crop, y * cw * 3, cw * 3)
        val scale = inputSize.toDouble() / side
        val outW = minOf(inputSize, maxOf(1, Math.rint(cw * scale).toInt()))
        val outH = minOf(inputSize, maxOf(1, Math.rint(ch * scale).toInt()))
        val resized = when {
            outW == cw && outH == ch -> crop
            scale < 1 -> Alignment.resizeArea(crop, ch, cw, outH, outW)
            else -> Alignment.warpAffine(crop, ch, cw, doubleArrayOf(outW.toDouble() / cw, 0.0, 0.5 * outW / cw - 0.5,
                0.0, outH.toDouble() / ch, 0.5 * outH / ch - 0.5), outH, outW)
        }
        val left = minOf(Math.rint((cx0 - x0) * scale).toInt(), inputSize - outW)
        val top = minOf(Math.rint((cy0 - y0) * scale).toInt(), inputSize - outH)
        val tensor = FloatArray(inputSize * inputSize * 3) { -1f }
        for (y in 0 until outH) for (x in 0 until outW) for (c in 0 until 3) {
            tensor[((top + y) * inputSize + left + x) * 3 + c] = (resized[(y * outW + x) * 3 + c].toInt() and 0xFF) / 127.5f - 1f
        }
        val gainX = (outW.toDouble() / cw).toFloat(); val gainY = (outH.toDouble() / ch).toFloat()  // NumPy: float64 / then float32
        return Region(tensor, gainX, gainY, cx0 - left / gainX, cy0 - top / gainY, inputSize)
    }
}
