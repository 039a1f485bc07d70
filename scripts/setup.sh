#!/usr/bin/env bash
# One-command set-up of a local astrolake environment on a fresh machine:
#   .venv with the exact pins, tf-keras, Horovod built from source (TensorFlow + Gloo),
#   the astrolake package (editable), and the two Delta jars in .jars/.
# Re-running is cheap: each step is skipped when its stamp matches its inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${ASTROLAKE_VENV:-$ROOT/.venv}
JARS=$ROOT/.jars
DELTA_VERSION=4.4.0
SPARK_SCALA=4.2_2.13

die() { echo "astrolake set-up: $*" >&2; exit 1; }
log() { echo "[setup] $*"; }

# --- system prerequisites: fail early with one clear line --------------------------------
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
command -v "$PY" >/dev/null 2>&1 || die "Python 3.11 not found (need python3.11 or python3 on PATH)"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || die "Python 3.11 is required, found $("$PY" -V 2>&1)"
command -v java >/dev/null 2>&1 || die "Java 17+ not found (install openjdk-17-jdk-headless)"
jv=$(java -version 2>&1 | awk -F'"' '/version/ {print $2}' | cut -d. -f1)
[ "${jv:-0}" -ge 17 ] 2>/dev/null || die "Java 17+ is required for Spark 4, found java ${jv:-unknown}"
for tool in mvn g++ cmake make; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (needed to fetch the Delta jars / build Horovod; apt-get install maven g++ cmake make)"
done

# --- Chromium for the report test (Debian's packages, never a browser download) -----------
# tests/test_report.py opens the HTML report in headless Chromium through Selenium. Skipped
# when both binaries are present. `make test` sets ASTROLAKE_BROWSER=required (a failed
# install stops the set-up); otherwise (`make demo`) a failed install is only a warning,
# since nothing but that test needs a browser.
CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver
browser_missing() {
  if [ "${ASTROLAKE_BROWSER:-optional}" = required ]; then die "$*"; fi
  log "warning: $* (only tests/test_report.py needs it)"
}
install_chromium() {
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || return 1
    sudo=sudo
  fi
  log "installing chromium and chromium-driver with apt-get (the report test's headless browser)"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null 2>&1 \
         && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }
}
if [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    browser_missing "$CHROMIUM / $CHROMEDRIVER missing and apt-get not found: install Debian's chromium and chromium-driver packages"
  elif ! install_chromium || [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; then
    browser_missing "could not install chromium and chromium-driver (as root: apt-get update && apt-get install chromium chromium-driver)"
  fi
fi

# --- Python environment -------------------------------------------------------------------
stamp_in=$(cat requirements/base.txt requirements/constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)
stamp=$VENV/.astrolake-setup
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$stamp_in" ]; then
  log "creating $VENV (about 10-15 minutes on a fresh machine)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade "pip==25.3" "setuptools==80.9.0" wheel
  log "installing pinned dependencies"
  "$VENV/bin/pip" install -q --progress-bar off -c requirements/constraints.txt -r requirements/base.txt
  # tf-keras without deps: its deps would pull the full tensorflow wheel (see docs/setup.md)
  "$VENV/bin/pip" install -q --no-deps tf-keras==2.18.0
  if ! "$VENV/bin/python" -c 'import horovod.tensorflow' >/dev/null 2>&1; then
    log "building Horovod 0.28.1 from source with TensorFlow and Gloo (about 2-4 minutes)"
    TF_USE_LEGACY_KERAS=1 HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 \
    HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
      "$VENV/bin/pip" install -q --no-build-isolation --no-cache-dir horovod==0.28.1
  fi
  "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e .
  echo "$stamp_in" > "$stamp"
  log "Python environment ready"
fi

# --- Delta jars: only delta-spark and delta-storage, without their transitive dependencies --
mkdir -p "$JARS"
for art in "io.delta:delta-spark_${SPARK_SCALA}:${DELTA_VERSION}" "io.delta:delta-storage:${DELTA_VERSION}"; do
  name=$(echo "$art" | cut -d: -f2)
  if [ ! -s "$JARS/${name}-${DELTA_VERSION}.jar" ]; then
    log "fetching $art"
    mvn -q -B dependency:copy -Dartifact="$art" -DoutputDirectory="$JARS" >/dev/null \
      || die "could not fetch $art from Maven Central"
  fi
done
log "ready: $VENV, Delta jars in $JARS"
