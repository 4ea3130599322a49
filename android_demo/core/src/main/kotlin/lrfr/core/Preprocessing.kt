package lrfr.core

/**
 * A model's input contract, as `lrfr_tf.preprocessing.Preprocessing` (its `get_config()` JSON is what the export
 * metadata stores under `preprocessing`): the model is fed [height] x [width] pixels, `(x - mean) * scale` per
 * channel in [channels] order ("RGB" or "BGR"); [crop] (height, width) is a centre crop in pixels of an
 * [alignedHeight] x [alignedWidth] aligned face taken before resizing to the model size (SphereFace's 112x96).
 * `resize_method` is irrelevant here: the aligned face is warped straight to the model size.
 */
data class Preprocessing(
    val height: Int = 112,
    val width: Int = 112,
    val mean: Double = 127.5,
    val scale: Double = 1.0 / 128.0,
    val channels: String = "RGB",
    val crop: Pair<Int, Int>? = null,
    val alignedHeight: Int = 112,
    val alignedWidth: Int = 112,
) {
    init {
        require(channels == "RGB" || channels == "BGR") { "channels must be 'RGB' or 'BGR', got '$channels'" }
        require(height > 0 && width > 0) { "size must be (height, width) > 0, got ($height, $width)" }
        require(alignedHeight > 0 && alignedWidth > 0) { "aligned_size must be > 0, got ($alignedHeight, $alignedWidth)" }
        if (crop != null) {
            require(crop.first > 0 && crop.second > 0 && crop.first <= alignedHeight && crop.second <= alignedWidth) {
                "crop must be (height, width) within aligned_size ($alignedHeight, $alignedWidth), got $crop"
            }
        }
    }

    /** (top, left, crop height, crop width) of the centre crop of a [h] x [w] face (Python's `crop_box`). */
    fun cropBox(h: Int, w: Int): IntArray {
        val c = crop ?: return intArrayOf(0, 0, h, w)
        // Python's round() rounds half to even, as Math.rint does
        val ch = maxOf(1, Math.rint(h.toDouble() * c.first / alignedHeight).toInt())
        val cw = maxOf(1, Math.rint(w.toDouble() * c.second / alignedWidth).toInt())
        return intArrayOf(Math.floorDiv(h - ch, 2), Math.floorDiv(w - cw, 2), ch, cw)
    }

    companion object {
        /** ArcFace / MobileFaceNet: RGB, 112x112, (x - 127.5) / 128. */
        val ARCFACE = Preprocessing()

        /** SphereFace / CosFace: the centre 112x96 of an ArcFace-aligned face. */
        val SPHEREFACE_112X96 = Preprocessing(height = 112, width = 96, crop = 112 to 96)

        val PRESETS = mapOf("arcface" to ARCFACE, "sphereface_112x96" to SPHEREFACE_112X96)

        /** From a `Preprocessing.get_config()` map (the export metadata's `preprocessing`). */
        fun fromConfig(config: Map<String, Any?>): Preprocessing {
            fun pair(key: String, default: Pair<Int, Int>?): Pair<Int, Int>? {
                val v = config[key] ?: return default
                val list = v as? List<*> ?: throw IllegalArgumentException("preprocessing.$key: expected [height, width], got $v")
                require(list.size == 2) { "preprocessing.$key: expected [height, width], got $v" }
                return intOf(list[0], key) to intOf(list[1], key)
            }
            fun number(key: String, default: Double): Double {
                val v = config[key] ?: return default
                return (v as? Number)?.toDouble() ?: throw IllegalArgumentException("preprocessing.$key: not a number: $v")
            }
            val size = pair("size", 112 to 112)!!
            val aligned = pair("aligned_size", 112 to 112)!!
            return Preprocessing(
                height = size.first, width = size.second, mean = number("mean", 127.5), scale = number("scale", 1.0 / 128.0),
                channels = (config["channels"] ?: "RGB") as? String ?: throw IllegalArgumentException("preprocessing.channels: not a string"),
                crop = pair("crop", null), alignedHeight = aligned.first, alignedWidth = aligned.second,
            )
        }

        private fun intOf(v: Any?, key: String): Int {
            val d = (v as? Number)?.toDouble() ?: throw IllegalArgumentException("preprocessing.$key: not a number: $v")
            require(d == Math.floor(d) && Math.abs(d) < Int.MAX_VALUE) { "preprocessing.$key: not an integer: $v" }
            return d.toInt()
        }
    }
}

/** Integer input quantisation of a TFLite tensor: `q = round(x / scale + zeroPoint)` saturated to [dtype]. */
data class Quantization(val dtype: DType, val scale: Float, val zeroPoint: Int) {
    enum class DType(val min: Int, val max: Int) { INT8(-128, 127), UINT8(0, 255) }

    init {
        require(scale > 0f && scale.isFinite()) { "quantization scale must be finite and > 0, got $scale" }
    }
}

/**
 * An aligned face as the model wants it, following `lrfr_tf.edge.embedder` exactly: `Preprocessing.normalize_numpy`
 * in float32 (channel order, `(x - mean) * scale`), then for an integer input `lrfr_tf.litert.quantize`
 * (float32 `x / scale + zero_point`, rounded half to even like `np.round`, saturated).
 */
object ModelInput {
    /** [face]: interleaved RGB bytes (0..255) of an [h] x [w] aligned face -> float32 NHWC values (one image). */
    fun normalize(face: ByteArray, h: Int, w: Int, pre: Preprocessing): FloatArray {
        require(h == pre.height && w == pre.width) { "face is ${h}x$w, the model wants ${pre.height}x${pre.width}" }
        require(face.size == h * w * 3) { "face: expected ${h * w * 3} bytes (RGB), got ${face.size}" }
        val mean = pre.mean.toFloat()
        val scale = pre.scale.toFloat()
        val bgr = pre.channels == "BGR"
        val out = FloatArray(face.size)
        var i = 0
        while (i < face.size) {
            for (c in 0 until 3) {
                val src = if (bgr) 2 - c else c
                val x = (face[i + src].toInt() and 0xFF).toFloat()
                out[i + c] = (x - mean) * scale
            }
            i += 3
        }
        return out
    }

    /** Float values -> the tensor's integers, one per byte (int8 as two's complement, uint8 as 0..255). */
    fun quantize(x: FloatArray, q: Quantization): ByteArray {
        val out = ByteArray(x.size)
        val zero = q.zeroPoint.toFloat()
        for (i in x.indices) {
            val v = x[i] / q.scale + zero  // float32 arithmetic, as NumPy does with a float32 array
            val r = if (v.isNaN()) 0.0 else Math.rint(v.toDouble())
            out[i] = r.coerceIn(q.dtype.min.toDouble(), q.dtype.max.toDouble()).toInt().toByte()
        }
        return out
    }

    /** The integer a quantised byte stands for. */
    fun level(b: Byte, dtype: Quantization.DType): Int = if (dtype == Quantization.DType.INT8) b.toInt() else b.toInt() and 0xFF

    /** Integer output -> float32 `(q - zeroPoint) * scale` (`lrfr_tf.litert.dequantize`). */
    fun dequantize(q: ByteArray, quant: Quantization): FloatArray =
        FloatArray(q.size) { (level(q[it], quant.dtype).toFloat() - quant.zeroPoint.toFloat()) * quant.scale }

    /** L2-normalised copy (norm floored at 1e-12, like `lrfr_tf.edge.embedder.l2_normalize`). */
    fun l2Normalize(x: FloatArray): FloatArray {
        var s = 0.0
        for (v in x) s += v.toDouble() * v
        val n = maxOf(Math.sqrt(s), 1e-12)
        return FloatArray(x.size) { (x[it] / n).toFloat() }
    }
}

/** The input contract of a `.tflite` embedder, chosen as `lrfr_tf.edge.embedder.TFLiteEmbedder` does. */
object InputContract {
    /**
     * (preprocessing, source): the export metadata's `preprocessing` ("metadata"; its `input.contract` must be
     * "normalized"), else [flag] ("flag", a preset the user picked), else ArcFace's for a 112x112 input ("default");
     * [IllegalArgumentException] naming [what] otherwise or when the contract's size is not the model's.
     */
    fun resolve(metadata: Map<String, Any?>?, flag: Preprocessing?, modelHeight: Int, modelWidth: Int, what: String = "model"): Pair<Preprocessing, String> {
        val config = metadata?.get("preprocessing")
        val (pre, source) = when {
            config != null -> {
                val contract = ((metadata["input"] as? Map<*, *>)?.get("contract") ?: "normalized") as? String
                require(contract == "normalized") { "$what: input contract '$contract'; the edge runtime feeds normalized inputs" }
                @Suppress("UNCHECKED_CAST")
                val map = config as? Map<String, Any?> ?: throw IllegalArgumentException("$what: metadata preprocessing is not an object")
                Preprocessing.fromConfig(map) to "metadata"
            }
            flag != null -> flag to "flag"
            modelHeight == 112 && modelWidth == 112 -> Preprocessing.ARCFACE to "default"
            else -> throw IllegalArgumentException("$what: no lrfr_tf export metadata and a ${modelHeight}x$modelWidth input; " +
                "say how it wants its faces (arcface, sphereface_112x96 or a JSON contract)")
        }
        require(pre.height == modelHeight && pre.width == modelWidth) {
            "$what: the model's input is ${modelHeight}x$modelWidth but its preprocessing ($source) says ${pre.height}x${pre.width}"
        }
        return pre to source
    }
}
