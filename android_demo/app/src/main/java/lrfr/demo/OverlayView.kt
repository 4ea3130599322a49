package lrfr.demo

import android.content.Context
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.util.AttributeSet
import android.view.View
import lrfr.core.Decisions

/** Boxes over the preview: green with the name, amber "unknown", grey "too small", each with the face size. The
 *  preview is FIT_CENTER, so frame pixels map to the view by one scale and offset. */
class OverlayView(context: Context, attrs: AttributeSet?) : View(context, attrs) {
    private var faces: List<FaceResult> = emptyList()
    private var frameW = 1
    private var frameH = 1
    private val box = Paint().apply { style = Paint.Style.STROKE; strokeWidth = 4f }
    private val text = Paint().apply { textSize = 36f; isAntiAlias = true }
    private val back = Paint().apply { color = Color.argb(160, 0, 0, 0) }

    fun show(faces: List<FaceResult>, frameW: Int, frameH: Int) {
        this.faces = faces
        this.frameW = frameW
        this.frameH = frameH
        postInvalidate()
    }

    override fun onDraw(canvas: Canvas) {
        super.onDraw(canvas)
        val s = minOf(width.toFloat() / frameW, height.toFloat() / frameH)
        val ox = (width - frameW * s) / 2
        val oy = (height - frameH * s) / 2
        for (f in faces) {
            val d = f.decision
            val color = when (d.answer) {
                Decisions.TOO_SMALL -> Color.LTGRAY
                Decisions.UNKNOWN -> Color.rgb(255, 176, 0)
                else -> Color.GREEN
            }
            box.color = color
            text.color = color
            val l = ox + f.box[0].toFloat() * s
            val t = oy + f.box[1].toFloat() * s
            canvas.drawRect(l, t, ox + f.box[2].toFloat() * s, oy + f.box[3].toFloat() * s, box)
            val similarity = d.similarity?.let { " %.2f".format(it) } ?: ""
            val threshold = d.threshold?.let { "/%.2f".format(it) } ?: ""
            val label = "${d.answer}$similarity$threshold  ${"%.0f".format(f.facePx)} px"
            canvas.drawRect(l, t - 44f, l + text.measureText(label) + 12f, t, back)
            canvas.drawText(label, l + 6f, t - 10f, text)
        }
    }
}
