# FEDGUARD_CUDA: AUTO turns CUDA on where nvcc is found; ON requires it; OFF never looks.
# `pip install .` (SKBUILD) with AUTO also needs an NVIDIA driver: a user's machine with the
# toolkit but no GPU gets the CPU-only build in a fraction of the time (docs/python.md).
set(FEDGUARD_HAS_CUDA OFF)
set(fedguard_cuda_mode "${FEDGUARD_CUDA}")
if(SKBUILD AND fedguard_cuda_mode STREQUAL "AUTO" AND NOT EXISTS /proc/driver/nvidia/version)
  message(STATUS "fedguard: no NVIDIA driver (/proc/driver/nvidia/version): CPU-only build "
                 "(-C cmake.define.FEDGUARD_CUDA=ON builds the CUDA code anyway)")
  set(fedguard_cuda_mode OFF)
endif()
if(NOT fedguard_cuda_mode STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)  # H100 / H200; override on the command line
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(FEDGUARD_HAS_CUDA ON)
  elseif(FEDGUARD_CUDA STREQUAL "ON")
    message(FATAL_ERROR "FEDGUARD_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
# The CUDA backend is a plugin (libfedguard_cuda.so) that the core loads with dlopen the first
# time a round asks for CUDA and an NVIDIA driver is present, so the CLI, the Python module and
# every program linking the core start without the CUDA libraries (issue #12). OFF links it
# into the core instead (the GPU kit's self-contained binaries, bench/gpu/make_kit.sh).
option(FEDGUARD_CUDA_PLUGIN "Build the CUDA backend as a plugin loaded on demand" ON)
message(STATUS "fedguard: CUDA backend ${FEDGUARD_HAS_CUDA}")
