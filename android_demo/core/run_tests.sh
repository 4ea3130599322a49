#!/usr/bin/env bash
# Compile android_demo/core (plain Kotlin/JVM, no Android) and run its JUnit 4 tests, including the parity tests
# against the Python golden files in golden/. Toolchain: a JDK (java), kotlinc from the npm package
# kotlin-compiler (installed once into a cache folder outside the repository), JUnit 4 + Hamcrest from Debian's
# junit4 package. Missing pieces are installed when possible; when the toolchain cannot be had the script says so
# loudly and exits 1 under CI=true (CI never skips silently), 0 elsewhere (a local skip, still loud).
# Exit 1 when a test fails. The last line is "N passed, N failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
start=$(date +%s)
KOTLIN_VERSION=2.2.21
cache=${LRFR_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/lrfr_tf}
build=$here/build

unavailable() {
    echo "##############################################################################" >&2
    echo "android_demo/core: Kotlin toolchain unavailable: $*" >&2
    if [ "${CI:-}" = true ]; then
        echo "CI=true: failing (the Kotlin core's tests must run in CI)" >&2
        echo "##############################################################################" >&2
        exit 1
    fi
    echo "NOT RUNNING the Kotlin core's tests (local run; CI=true would fail here)" >&2
    echo "##############################################################################" >&2
    exit 0
}

apt_install() {  # apt_install PACKAGE...: as root with apt-get only
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing $* with apt-get" >&2
        { apt-get install -y -q "$@" || { apt-get update -q && apt-get install -y -q "$@"; }; } >/dev/null 2>&1 || return 1
    else
        return 1
    fi
}

# JDK
command -v java >/dev/null || apt_install openjdk-17-jdk-headless || unavailable "no java, and openjdk-17-jdk-headless could not be installed"
java -version 2>&1 | head -1

# JUnit 4 (+ Hamcrest 1.3 API, which JUnit 4.13 needs) from Debian
junit=/usr/share/java/junit4.jar
hamcrest=/usr/share/java/hamcrest-core.jar
[ -f "$junit" ] && [ -f "$hamcrest" ] || apt_install junit4 || unavailable "no $junit, and Debian's junit4 could not be installed"
[ -f "$junit" ] && [ -f "$hamcrest" ] || unavailable "junit4 installed but $junit or $hamcrest is missing"

# kotlinc from npm's kotlin-compiler, cached outside the repository ($KOTLINC_HOME overrides)
kotlin_home=${KOTLINC_HOME:-$cache/kotlin-compiler-$KOTLIN_VERSION/node_modules/kotlin-compiler}
if [ ! -x "$kotlin_home/bin/kotlinc" ]; then
    command -v npm >/dev/null || apt_install npm || unavailable "no npm to install kotlin-compiler@$KOTLIN_VERSION"
    mkdir -p "$cache/kotlin-compiler-$KOTLIN_VERSION"
    echo "installing kotlin-compiler@$KOTLIN_VERSION from npm into $cache" >&2
    npm install --no-audit --no-fund --loglevel=error --prefix "$cache/kotlin-compiler-$KOTLIN_VERSION" \
        "kotlin-compiler@$KOTLIN_VERSION" >&2 || unavailable "npm install kotlin-compiler@$KOTLIN_VERSION failed"
fi
[ -x "$kotlin_home/bin/kotlinc" ] || unavailable "no kotlinc in $kotlin_home"
stdlib=$kotlin_home/lib/kotlin-stdlib.jar

# Compile: the core alone (proves it needs nothing but the Kotlin stdlib), then the tests against it
rm -rf "$build/classes"
mkdir -p "$build/classes/main" "$build/classes/test"
export JAVA_OPTS="${JAVA_OPTS:--Xmx1g}"
echo "compiling android_demo/core with kotlinc $KOTLIN_VERSION" >&2
"$kotlin_home/bin/kotlinc" -jvm-target 17 -nowarn -d "$build/classes/main" "$here/src/main/kotlin"
"$kotlin_home/bin/kotlinc" -jvm-target 17 -nowarn -cp "$build/classes/main:$junit:$hamcrest" -d "$build/classes/test" "$here/src/test/kotlin"
compiled=$(date +%s)

tests=$(cd "$build/classes/test" && find . -name '*Test.class' | sed 's|^\./||; s|\.class$||; s|/|.|g' | sort)
[ -n "$tests" ] || { echo "android_demo/core: no test classes compiled" >&2; exit 1; }
status=0
java -Dlrfr.golden="$here/golden" -cp "$build/classes/main:$build/classes/test:$stdlib:$junit:$hamcrest" \
    lrfr.core.TestMainKt $tests | tee "$build/test-output.txt" || status=$?
echo "android_demo/core: compile $(( compiled - start )) s, tests $(( $(date +%s) - compiled )) s"
tail -n 1 "$build/test-output.txt"  # the "N passed, N failed" line, last
exit $status
