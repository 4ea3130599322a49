package lrfr.core

import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import kotlin.system.exitProcess

/** Runs the given test classes and ends with the line "N passed, N failed" (exit 1 on any failure). */
fun main(args: Array<String>) {
    val classes = args.map { Class.forName(it) }.toTypedArray()
    require(classes.isNotEmpty()) { "no test classes given" }
    val result = JUnitCore.runClasses(*classes)
    for (f: Failure in result.failures) {
        System.out.println("FAILED ${f.testHeader}: ${f.message}")
        System.out.println(f.trace.lineSequence().take(12).joinToString("\n"))
    }
    System.out.println("largest deviation from the Python golden values, per check:")
    for ((what, err) in Golden.worst) System.out.println("  %-60s %.3g".format(what, err))
    val failed = result.failureCount
    System.out.println("kotlin core: ${result.runCount - failed} passed, $failed failed, ${result.ignoreCount} skipped in ${result.runTime / 1000.0} s")
    System.out.println("${result.runCount - failed} passed, $failed failed")
    exitProcess(if (failed == 0 && result.runCount > 0) 0 else 1)
}
