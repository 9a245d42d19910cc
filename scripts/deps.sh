#!/usr/bin/env bash
# Installs the Debian packages ilr needs to build, test and fuzz.  Idempotent: when everything is present
# it only checks (dpkg-query, well under a second) and installs nothing.  Run as root (or with sudo).
set -euo pipefail

packages=(
  build-essential   # gcc, make
  pkg-config
  libopenblas-openmp-dev  # matmul (sgemm), the OpenMP build: it shares ilr's threads
  libjansson-dev    # JSON with line/column errors
  libcmocka-dev     # tests
  libpcre2-dev      # tokenizer pre-tokenizer regexes (Unicode properties, JIT)
  libutf8proc-dev   # tokenizer NFC normalisation
  libyaml-dev       # experiment configs (YAML)
  libmicrohttpd-dev # ilr serve: the HTTP server (OpenAI-compatible API)
  clang             # make fuzz (libFuzzer)
  libclang-rt-14-dev
  python3           # regenerating test corpora; the code-execution sandbox runs /usr/bin/python3
  bubblewrap        # the code-execution sandbox (namespaces)
  chromium          # tests only: opens report.html headless (the report test skips without it)
  fonts-dejavu-core # the text in chromium's screenshots of report.html
  openmpi-bin       # make MPI=1: mpirun (data-parallel training; its tests skip without it)
  libopenmpi-dev    # make MPI=1: mpi.h and libmpi (pkg-config ompi-c)
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
