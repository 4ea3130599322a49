// Plain Kotlin/JVM: no Android dependency, so the same sources compile and test with kotlinc alone (run_tests.sh).
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    systemProperty("lrfr.golden", file("golden").absolutePath)
    exclude("**/TestMainKt.class")
}
