package lrfr.demo

import android.content.Context
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import lrfr.core.Alignment
import lrfr.core.BlazeFace
import lrfr.core.Bucket
import lrfr.core.Decision
import lrfr.core.Decisions
import lrfr.core.Gallery
import lrfr.core.InputContract
import lrfr.core.ModelInput
import lrfr.core.Preprocessing
import lrfr.core.Quantization
import lrfr.core.TfliteMetadata
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter

/** A .tflite file from the APK's assets on a LiteRT interpreter; [bytes] kept for its sha256 and metadata. */
private fun loadAsset(context: Context, name: String, threads: Int): Pair<ByteArray, Interpreter> {
    val bytes = context.assets.open(name).use { it.readBytes() }
    val buffer = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).put(bytes)
    buffer.rewind()
    return bytes to Interpreter(buffer, Interpreter.Options().setNumThreads(threads))
}

/** BlazeFace (full range by default) on the whole letterboxed frame plus overlapping tiles, as lrfr_tf.edge's
 *  FaceDetector; post-processing in lrfr.core.BlazeFace. */
class FaceDetectorRt(context: Context, private val model: BlazeFace.Model = BlazeFace.FULL, private val tileSize: Int = 192,
                     private val tileOverlap: Int = 48, threads: Int = 2) {
    private val interpreter = loadAsset(context, model.filename, threads).second
    private val anchors = BlazeFace.anchorCentres(model.inputSize, model.strides, model.interpolatedScaleAspectRatio)
    private val boxesIndex: Int
    private val scoresIndex: Int
    private val input = ByteBuffer.allocateDirect(model.inputSize * model.inputSize * 3 * 4).order(ByteOrder.nativeOrder())
    private val rawBoxes = ByteBuffer.allocateDirect(anchors.size * 16 * 4).order(ByteOrder.nativeOrder())
    private val rawScores = ByteBuffer.allocateDirect(anchors.size * 4).order(ByteOrder.nativeOrder())

    init {
        val outputs = (0 until interpreter.outputTensorCount).map { interpreter.getOutputTensor(it).shape() }
        boxesIndex = outputs.indexOfFirst { it.last() == 4 + 2 * BlazeFace.NUM_KEYPOINTS }
        scoresIndex = outputs.indexOfFirst { it.last() == 1 }
        require(boxesIndex >= 0 && scoresIndex >= 0) { "${model.filename}: not a BlazeFace model (outputs ${outputs.map { it.toList() }})" }
    }

    /** Faces of an RGB frame ([h] x [w], interleaved bytes) in frame pixels, best first. */
    fun detect(rgb: ByteArray, h: Int, w: Int): List<BlazeFace.Detection> {
        val size = model.inputSize
        val side = maxOf(h, w)
        val passes = ArrayList<Pair<Double, List<BlazeFace.Detection>>>()
        passes.add(size.toDouble() / side to run(rgb, h, w, -((side - w) / 2), -((side - h) / 2), side))
        for (t in BlazeFace.tileRegions(w, h, tileSize, tileOverlap)) {
            val faces = run(rgb, h, w, t[0], t[1], t[2]).filter { BlazeFace.insideTile(it.box, t[0], t[1], t[2], w, h) }
            passes.add(size.toDouble() / t[2] to faces)
        }
        return BlazeFace.bestAcrossPasses(passes.map { (m, faces) -> m to BlazeFace.weightedNms(faces) })
    }

    private fun run(rgb: ByteArray, h: Int, w: Int, x0: Int, y0: Int, side: Int): List<BlazeFace.Detection> {
        val size = model.inputSize
        val region = BlazeFace.regionInput(rgb, h, w, x0, y0, side, size)  // [-1, 1], as lrfr_tf.edge makes it
        input.rewind()
        for (v in region.tensor) input.putFloat(v)
        input.rewind(); rawBoxes.rewind(); rawScores.rewind()
        interpreter.runForMultipleInputsOutputs(arrayOf<Any>(input), mapOf<Int, Any>(boxesIndex to rawBoxes, scoresIndex to rawScores))
        rawBoxes.rewind(); rawScores.rewind()
        val boxes = FloatArray(anchors.size * 16).also { rawBoxes.asFloatBuffer().get(it) }
        val scores = FloatArray(anchors.size).also { rawScores.asFloatBuffer().get(it) }
        return BlazeFace.decode(boxes, scores, anchors, size, model.minScore).map(region::toImage)
    }
}

/** Any exported embedder: its contract and thresholds from the lrfr_tf metadata in the file (else ArcFace's contract
 *  for a 112x112 input and the default table), int8/uint8 inputs quantised, a fixed batch padded. */
class EmbedderRt(context: Context, assetName: String, threads: Int = 2) {
    private val interpreter: Interpreter
    val sha256: String
    val preprocessing: Preprocessing
    val contractSource: String
    val thresholds: List<Bucket>
    val thresholdsSource: String
    val dim: Int
    private val batch: Int
    private val inputQuant: Quantization?
    private val outputQuant: Quantization?

    init {
        val (bytes, interp) = loadAsset(context, assetName, threads)
        interpreter = interp
        sha256 = java.security.MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
        val metadata = TfliteMetadata.read(bytes, assetName)
        val input = interpreter.getInputTensor(0)
        val shape = input.shape()
        require(shape.size == 4 && shape[3] == 3) { "$assetName: input ${shape.toList()}, an embedder takes [batch, H, W, 3]" }
        batch = shape[0]
        InputContract.resolve(metadata, null, shape[1], shape[2], assetName).let { preprocessing = it.first; contractSource = it.second }
        Decisions.thresholdsFromMetadata(metadata).let { thresholds = it.first; thresholdsSource = it.second }
        val output = interpreter.getOutputTensor(0)
        dim = output.shape().last()
        inputQuant = quantization(input.dataType(), input.quantizationParams().scale, input.quantizationParams().zeroPoint)
        outputQuant = quantization(output.dataType(), output.quantizationParams().scale, output.quantizationParams().zeroPoint)
    }

    private fun quantization(type: DataType, scale: Float, zero: Int): Quantization? = when (type) {
        DataType.FLOAT32 -> null
        DataType.INT8 -> Quantization(Quantization.DType.INT8, scale, zero)
        DataType.UINT8 -> Quantization(Quantization.DType.UINT8, scale, zero)
        else -> throw IllegalArgumentException("embedder tensors of type $type are not supported")
    }

    /** The L2-normalised embedding of an aligned face (RGB bytes at the model size). */
    fun embed(face: ByteArray): FloatArray {
        val x = ModelInput.normalize(face, preprocessing.height, preprocessing.width, preprocessing)
        val per = if (inputQuant == null) 4 else 1
        val input = ByteBuffer.allocateDirect(batch * x.size * per).order(ByteOrder.nativeOrder())
        if (inputQuant == null) x.forEach { input.putFloat(it) } else input.put(ModelInput.quantize(x, inputQuant))
        input.rewind()  // the rest of a fixed batch stays zero: padding
        val outPer = if (outputQuant == null) 4 else 1
        val output = ByteBuffer.allocateDirect(batch * dim * outPer).order(ByteOrder.nativeOrder())
        interpreter.run(input, output)
        output.rewind()
        val row = if (outputQuant == null) FloatArray(dim).also { output.asFloatBuffer().get(it) }
        else ModelInput.dequantize(ByteArray(dim).also { output.get(it) }, outputQuant)
        return ModelInput.l2Normalize(row)
    }
}

/** One face of a frame: where, how big, and who. */
class FaceResult(val box: DoubleArray, val facePx: Double, val interOcularPx: Double, val embedding: FloatArray, val decision: Decision)

/** detect -> five points -> align -> embed -> match -> decide, the steps of lrfr_tf.edge.edge_pipeline (BlazeFace keypoints
 *  as landmarks: the app has no face-mesh pass). */
class FacePipeline(val detector: FaceDetectorRt, val embedder: EmbedderRt, @Volatile var gallery: Gallery) {
    fun process(rgb: ByteArray, h: Int, w: Int): List<FaceResult> = detector.detect(rgb, h, w).map { det ->
        val points = BlazeFace.fivePoints(det.keypoints)
        val pre = embedder.preprocessing
        val matrix = Alignment.alignmentMatrix(points, pre)
        val face = Alignment.warpAffine(rgb, h, w, matrix, pre.height, pre.width)
        val embedding = embedder.embed(face)
        val (name, similarity) = gallery.bestMatch(embedding)
        val size = Decisions.facePx(matrix)
        FaceResult(det.box, size, Math.hypot(points[1][0] - points[0][0], points[1][1] - points[0][1]), embedding,
            Decisions.decide(size, name, similarity, embedder.thresholds))
    }

    companion object {
        /** The gallery file pushed with `adb push gallery.npz /sdcard/Android/data/lrfr.demo/files/gallery.npz`, or an
         *  empty one; a gallery of another model is refused (the message is shown). */
        fun loadGallery(file: File, embedder: EmbedderRt): Pair<Gallery, String> {
            val empty = Gallery(embedder.sha256, embedder.dim, emptyList(), FloatArray(0), emptyList())
            if (!file.isFile) return empty to "no gallery at ${file.path}: enroll on the phone or push one"
            return try {
                val g = Gallery.load(file, embedder.sha256, embedder.dim)
                g to "gallery: ${g.size} rows, ${g.identities.size} identities"
            } catch (e: IllegalArgumentException) {
                empty to "gallery refused: ${e.message}"
            }
        }
    }
}
