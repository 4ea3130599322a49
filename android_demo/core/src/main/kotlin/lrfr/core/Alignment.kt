package lrfr.core

/**
 * Similarity-transform alignment onto the ArcFace 112x112 five-point template (`lrfr_tf.edge.alignment`).
 *
 * Matrices are 2x3 row-major `[a, b, tx, c, d, ty]` mapping camera pixels (x, y) to model-input pixels.
 */
object Alignment {
    /** ArcFace's five points (x, y) in a 112x112 aligned face: image-left eye, other eye, nose, mouth corners. */
    val TEMPLATE_112: Array<DoubleArray> = arrayOf(
        doubleArrayOf(38.2946, 51.6963), doubleArrayOf(73.5318, 51.5014), doubleArrayOf(56.0252, 71.7366),
        doubleArrayOf(41.5493, 92.3655), doubleArrayOf(70.7299, 92.2041),
    )

    /**
     * Umeyama's least-squares similarity (1991, eq. 40-42) `[cR | t]` minimising sum |c R x_i + t - y_i|^2.
     *
     * In two dimensions the SVD has a closed form: with the cross-covariance Sigma = 1/n sum (y_i - mu_y)(x_i - mu_x)^T
     * = [[p, q], [r, s]] and the source variance sigma^2, `c R = [[A, -B], [B, A]]` with A = (p + s) / sigma^2,
     * B = (r - q) / sigma^2. (Umeyama's tr(D S) with S = diag(1, sign det Sigma) is d1 +- d2 = sqrt((p + s)^2 + (r - q)^2)
     * and his R = U S V^T is the rotation by atan2(r - q, p + s), never a reflection.) Same matrix as
     * `lrfr_tf.edge.alignment.umeyama`, checked against it by the golden tests.
     */
    fun umeyama(source: Array<DoubleArray>, destination: Array<DoubleArray>): DoubleArray {
        require(source.size == destination.size && source.size >= 2 && source.all { it.size == 2 } && destination.all { it.size == 2 }) {
            "umeyama: expected two [n >= 2, 2] point sets of one shape, got ${source.size} and ${destination.size} points"
        }
        val n = source.size.toDouble()
        var mxx = 0.0; var mxy = 0.0; var myx = 0.0; var myy = 0.0
        for (i in source.indices) { mxx += source[i][0]; mxy += source[i][1]; myx += destination[i][0]; myy += destination[i][1] }
        mxx /= n; mxy /= n; myx /= n; myy /= n
        var varX = 0.0; var p = 0.0; var q = 0.0; var r = 0.0; var s = 0.0
        for (i in source.indices) {
            val xx = source[i][0] - mxx; val xy = source[i][1] - mxy
            val yx = destination[i][0] - myx; val yy = destination[i][1] - myy
            varX += xx * xx + xy * xy
            p += yx * xx; q += yx * xy; r += yy * xx; s += yy * xy
        }
        varX /= n
        require(varX > 0) { "umeyama: the source points coincide" }
        val a = (p + s) / n / varX
        val b = (r - q) / n / varX
        return doubleArrayOf(a, -b, myx - (a * mxx - b * mxy), b, a, myy - (b * mxx + a * mxy))
    }

    /** The template [5][2] in pixels of the model input: scaled to the aligned size, shifted by the centre crop and
     *  scaled from the crop to the model size (`template_for`). */
    fun templateFor(pre: Preprocessing): Array<DoubleArray> {
        val ah = pre.alignedHeight; val aw = pre.alignedWidth
        val (top, left, ch, cw) = pre.cropBox(ah, aw).let { listOf(it[0], it[1], it[2], it[3]) }
        return Array(5) { k ->
            val x = TEMPLATE_112[k][0] * (aw / 112.0)
            val y = TEMPLATE_112[k][1] * (ah / 112.0)
            doubleArrayOf((x - left) * (pre.width.toDouble() / cw), (y - top) * (pre.height.toDouble() / ch))
        }
    }

    /** The matrix aligning five camera landmarks [5][2] (template order) to the model input of [pre]. */
    fun alignmentMatrix(landmarks: Array<DoubleArray>, pre: Preprocessing): DoubleArray = umeyama(landmarks, templateFor(pre))

    /** (x, y) mapped by a 2x3 matrix. */
    fun apply(m: DoubleArray, x: Double, y: Double): DoubleArray = doubleArrayOf(m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])

    /** The inverse of a 2x3 affine matrix, as OpenCV's `invertAffineTransform` (a singular one becomes zeros). */
    fun invert(m: DoubleArray): DoubleArray {
        var d = m[0] * m[4] - m[1] * m[3]
        d = if (d != 0.0) 1.0 / d else 0.0
        val a11 = m[4] * d; val a22 = m[0] * d; val a12 = -m[1] * d; val a21 = -m[3] * d
        return doubleArrayOf(a11, a12, -a11 * m[2] - a12 * m[5], a21, a22, -a21 * m[2] - a22 * m[5])
    }

    /**
     * [rgb] ([h] x [w]) shrunk to [outH] x [outW] by area averaging: each output pixel the mean of the input area it
     * covers (fractional pixels weighted by their overlap), rounded half to even: OpenCV's `resize(INTER_AREA)` for a
     * shrink (golden test: identical bytes).
     */
    fun resizeArea(rgb: ByteArray, h: Int, w: Int, outH: Int, outW: Int): ByteArray {
        require(h > 0 && w > 0 && rgb.size == h * w * 3) { "image: expected ${h}x${w}x3 bytes, got ${rgb.size}" }
        require(outH in 1..h && outW in 1..w) { "resizeArea shrinks: ${h}x$w -> ${outH}x$outW" }
        fun taps(nOut: Int, nIn: Int): Array<Pair<IntArray, DoubleArray>> {
            val s = nIn.toDouble() / nOut
            return Array(nOut) { o ->
                val a = o * s; val b = (o + 1) * s
                val first = Math.floor(a).toInt(); val last = minOf(Math.ceil(b).toInt(), nIn) - 1
                val idx = IntArray(last - first + 1) { first + it }
                idx to DoubleArray(idx.size) { maxOf(0.0, minOf(b, idx[it] + 1.0) - maxOf(a, idx[it].toDouble())) / s }
            }
        }
        val tx = taps(outW, w); val ty = taps(outH, h)
        // rows first: [h x outW] sums, then columns
        val rows = DoubleArray(h * outW * 3)
        for (y in 0 until h) for (x in 0 until outW) {
            val (idx, wt) = tx[x]
            for (c in 0 until 3) {
                var v = 0.0
                for (k in idx.indices) v += wt[k] * (rgb[(y * w + idx[k]) * 3 + c].toInt() and 0xFF)
                rows[(y * outW + x) * 3 + c] = v
            }
        }
        val out = ByteArray(outH * outW * 3)
        for (y in 0 until outH) {
            val (idx, wt) = ty[y]
            for (x in 0 until outW) for (c in 0 until 3) {
                var v = 0.0
                for (k in idx.indices) v += wt[k] * rows[(idx[k] * outW + x) * 3 + c]
                out[(y * outW + x) * 3 + c] = Math.rint(v).coerceIn(0.0, 255.0).toInt().toByte()
            }
        }
        return out
    }

    /**
     * The aligned face: the [outH] x [outW] RGB image whose pixel (x, y) is the camera image [rgb] ([h] x [w],
     * interleaved RGB bytes) bilinearly sampled at `matrix^-1 (x, y)`, pixels outside the frame repeating the
     * border, rounded half to even: what OpenCV 5's `warpAffine(INTER_LINEAR, BORDER_REPLICATE)` computes for an
     * 8-bit image, so a face comes out as `lrfr_tf.edge.alignment.align` makes it (golden test: identical bytes;
     * OpenCV 4's fixed-point warp differs by a few grey levels on sharp edges). `align`'s pre-shrink of faces over
     * twice the model size (area averaging) is not done here: a camera app's faces are small; a big one aliases a bit.
     */
    fun warpAffine(rgb: ByteArray, h: Int, w: Int, matrix: DoubleArray, outH: Int, outW: Int): ByteArray {
        require(h > 0 && w > 0 && rgb.size == h * w * 3) { "image: expected ${h}x${w}x3 bytes, got ${rgb.size}" }
        require(outH > 0 && outW > 0) { "output size must be > 0" }
        val m = invert(matrix)
        val out = ByteArray(outH * outW * 3)
        for (y in 0 until outH) {
            for (x in 0 until outW) {
                val sx = m[0] * x + m[1] * y + m[2]
                val sy = m[3] * x + m[4] * y + m[5]
                if (!sx.isFinite() || !sy.isFinite()) continue
                val fx0 = Math.floor(sx); val fy0 = Math.floor(sy)
                val fx = sx - fx0; val fy = sy - fy0
                val x0 = fx0.coerceIn(-1.0, w.toDouble()).toInt(); val y0 = fy0.coerceIn(-1.0, h.toDouble()).toInt()
                val cx0 = x0.coerceIn(0, w - 1); val cx1 = (x0 + 1).coerceIn(0, w - 1)
                val cy0 = y0.coerceIn(0, h - 1); val cy1 = (y0 + 1).coerceIn(0, h - 1)
                val p00 = (cy0 * w + cx0) * 3; val p01 = (cy0 * w + cx1) * 3
                val p10 = (cy1 * w + cx0) * 3; val p11 = (cy1 * w + cx1) * 3
                val o = (y * outW + x) * 3
                for (c in 0 until 3) {
                    val v = (rgb[p00 + c].toInt() and 0xFF) * (1 - fx) * (1 - fy) + (rgb[p01 + c].toInt() and 0xFF) * fx * (1 - fy) +
                        (rgb[p10 + c].toInt() and 0xFF) * (1 - fx) * fy + (rgb[p11 + c].toInt() and 0xFF) * fx * fy
                    out[o + c] = Math.rint(v).coerceIn(0.0, 255.0).toInt().toByte()
                }
            }
        }
        return out
    }
}
