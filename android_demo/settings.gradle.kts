// The camera demo: `core` (plain Kotlin/JVM, tested here by core/run_tests.sh) and `app` (Android, CameraX + LiteRT).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "lrfr_android_demo"
include(":core", ":app")
