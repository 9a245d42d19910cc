#!/usr/bin/env bash
# The peers' virtual environment for bench/compare_all.sh, in bench/.venv.  Not a dependency of the build or
# the tests.  Quick when already there.
#   bash bench/venv.sh
# - PyTorch: PyPI's newest torch (its own MKL / oneDNN CPU kernels) and numpy.  About 3 GB (the wheel pulls
#   NVIDIA's CUDA libraries too, unused here); about a minute.
# - llama.cpp: llama-cpp-python built from its source release (the llama.cpp it vendors) for this CPU, with
#   LLAMA_CMAKE_ARGS below; the source stays in .venv/src (.venv/src/llama.cpp is its llama.cpp) for
#   bench/to_gguf.py, which runs llama.cpp's convert_hf_to_gguf.py (hence transformers and sentencepiece,
#   pinned as that script's requirements pin them) and reads the result back with the `gguf` package.
#   The builds take 10-25 minutes on 2 busy cores; changing LLAMA_CMAKE_ARGS rebuilds them.
set -euo pipefail
cd "$(dirname "$0")"
LLAMA_CPP_PYTHON=0.3.36
# -march=native (AVX2, FMA, F16C here), OpenMP threads, llamafile's sgemm for the batched products (the
# default; llama.cpp's build guide: BLAS "may" help prompt processing, never generation); no multimodal
# library.  A second build with OpenBLAS follows, and bench/compare_all.py runs the faster of the two.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_LLAMAFILE=ON -DGGML_BLAS=OFF -DLLAVA_BUILD=OFF"
PIP=.venv/bin/pip
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c 'import torch, numpy' 2>/dev/null || $PIP install -q --upgrade torch numpy

src=.venv/src/llama_cpp_python-$LLAMA_CPP_PYTHON stamp=.venv/src/llama_cpp_python.cmake_args
if [ ! -d "$src" ]; then
    mkdir -p .venv/src
    $PIP download -q --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON" -d .venv/src
    tar -xzf ".venv/src/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz" -C .venv/src
    rm ".venv/src/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz"
fi
ln -sfn "llama_cpp_python-$LLAMA_CPP_PYTHON/vendor/llama.cpp" .venv/src/llama.cpp
if [ "$(cat "$stamp" 2>/dev/null)" != "$LLAMA_CPP_PYTHON $LLAMA_CMAKE_ARGS" ] ||
    ! .venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
    echo "bench/.venv: building llama-cpp-python $LLAMA_CPP_PYTHON with CMAKE_ARGS=\"$LLAMA_CMAKE_ARGS\" (10-25 min)"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=2 \
        $PIP install -q --no-cache-dir --force-reinstall --no-deps "$src"
    $PIP install -q "numpy>=1.20" "typing-extensions>=4.5" "diskcache>=5.6.1" "jinja2>=2.11.3"
    echo "$LLAMA_CPP_PYTHON $LLAMA_CMAKE_ARGS" > "$stamp"
fi
# The same llama.cpp with ggml's BLAS backend on OpenBLAS (Debian's, the openmp build ilr links), which
# takes the products of 32 or more rows: faster prefill on f32 weights here, slower on f16/bf16 (it converts
# them to f32 first).  Only libllama and ggml, for llama-cpp-python to load with LLAMA_CPP_LIB_PATH.
blas=.venv/src/build-blas blas_args="$LLAMA_CMAKE_ARGS -DGGML_BLAS=ON -DGGML_BLAS_VENDOR=OpenBLAS"
if [ "$(cat "$blas/cmake_args" 2>/dev/null)" != "$LLAMA_CPP_PYTHON $blas_args" ] || [ ! -e "$blas/bin/libllama.so" ]; then
    echo "bench/.venv: building its libllama again with -DGGML_BLAS=ON -DGGML_BLAS_VENDOR=OpenBLAS (5-10 min)"
    # shellcheck disable=SC2086
    cmake -S .venv/src/llama.cpp -B "$blas" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_COMMON=OFF \
        -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
        $blas_args > "$blas.cmake.log"
    cmake --build "$blas" -j2 --target llama > "$blas.build.log"
    echo "$LLAMA_CPP_PYTHON $blas_args" > "$blas/cmake_args"
fi
.venv/bin/python -c 'import transformers, sentencepiece, gguf' 2>/dev/null ||
    $PIP install -q "transformers==4.57.6" "sentencepiece>=0.1.98,<0.3.0" gguf
.venv/bin/python -c 'import torch, llama_cpp; from importlib.metadata import version
print("bench/.venv: torch", torch.__version__, "| llama-cpp-python", llama_cpp.__version__, "| gguf", version("gguf"))'
echo "bench/.venv: llama.cpp built with CMAKE_ARGS=\"$(cut -d' ' -f2- "$stamp")\"; with BLAS in $blas/bin"
