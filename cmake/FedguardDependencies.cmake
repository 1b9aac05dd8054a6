# Third-party libraries, all from Debian packages (see .ci/run):
#   libopenblas-dev liblapacke-dev nlohmann-json3-dev libcli11-dev libgtest-dev libbenchmark-dev
#   libssl-dev
find_package(OpenMP REQUIRED COMPONENTS CXX)
# libcrypto (Debian libssl-dev): Ed25519, SHA-256 and the CSPRNG of client verification.
find_package(OpenSSL 3.0 REQUIRED COMPONENTS Crypto)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(CLI11 QUIET CONFIG)
if(NOT CLI11_FOUND)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${CLI11_INCLUDE_DIR})
endif()

# BLAS for GEMM/SYRK (its cblas interface) and LAPACKE for eigen-solves, chosen by FEDGUARD_BLAS
# (issue 19; the measurement behind the default: docs/performance.md):
#   openblas        Debian's libopenblas-dev + liblapacke-dev (default, CI)
#   scipy-openblas  PyPI scipy-openblas32 (a current OpenBLAS, numpy's own; symbols prefixed
#                   scipy_, mapped by cmake/blas/scipy_openblas/), found through the Python of
#                   FEDGUARD_BLAS_PYTHON (default python3); `pip install scipy-openblas32`
set(FEDGUARD_BLAS "openblas" CACHE STRING "BLAS/LAPACK to build against: openblas | scipy-openblas")
set_property(CACHE FEDGUARD_BLAS PROPERTY STRINGS openblas scipy-openblas)
add_library(fedguard_blas INTERFACE)
if(FEDGUARD_BLAS STREQUAL "openblas")
  find_library(FEDGUARD_OPENBLAS_LIBRARY NAMES openblas REQUIRED)
  find_path(FEDGUARD_CBLAS_INCLUDE_DIR cblas.h
    HINTS /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas REQUIRED)
  find_library(FEDGUARD_LAPACKE_LIBRARY NAMES lapacke REQUIRED)
  find_path(FEDGUARD_LAPACKE_INCLUDE_DIR lapacke.h REQUIRED)
  target_include_directories(fedguard_blas INTERFACE ${FEDGUARD_CBLAS_INCLUDE_DIR} ${FEDGUARD_LAPACKE_INCLUDE_DIR})
  target_link_libraries(fedguard_blas INTERFACE ${FEDGUARD_LAPACKE_LIBRARY} ${FEDGUARD_OPENBLAS_LIBRARY})
  set(FEDGUARD_BLAS_NAME "Debian OpenBLAS")
elseif(FEDGUARD_BLAS STREQUAL "scipy-openblas")
  set(FEDGUARD_BLAS_PYTHON "python3" CACHE STRING "Python whose scipy_openblas32 package FEDGUARD_BLAS=scipy-openblas uses")
  execute_process(
    COMMAND ${FEDGUARD_BLAS_PYTHON} -c "import scipy_openblas32 as s; print(s.get_include_dir()); print(s.get_lib_dir())"
    OUTPUT_VARIABLE _fedguard_sob OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _fedguard_sob_rc)
  if(NOT _fedguard_sob_rc EQUAL 0)
    message(FATAL_ERROR "FEDGUARD_BLAS=scipy-openblas: ${FEDGUARD_BLAS_PYTHON} cannot import scipy_openblas32 "
                        "(pip install scipy-openblas32)")
  endif()
  string(REPLACE "\n" ";" _fedguard_sob "${_fedguard_sob}")
  list(GET _fedguard_sob 0 _fedguard_sob_include)
  list(GET _fedguard_sob 1 _fedguard_sob_lib)
  find_library(FEDGUARD_SCIPY_OPENBLAS_LIBRARY NAMES scipy_openblas HINTS ${_fedguard_sob_lib} NO_DEFAULT_PATH REQUIRED)
  # The shim directory first: its cblas.h / lapacke.h include_next the package's.
  target_include_directories(fedguard_blas INTERFACE ${CMAKE_CURRENT_LIST_DIR}/blas/scipy_openblas ${_fedguard_sob_include})
  target_link_libraries(fedguard_blas INTERFACE ${FEDGUARD_SCIPY_OPENBLAS_LIBRARY})
  target_link_options(fedguard_blas INTERFACE "LINKER:-rpath,${_fedguard_sob_lib}")
  set(FEDGUARD_BLAS_NAME "scipy-openblas32 (PyPI)")
else()
  message(FATAL_ERROR "FEDGUARD_BLAS=${FEDGUARD_BLAS}: supported are openblas and scipy-openblas "
                      "(BLIS and MKL were not built; see docs/performance.md)")
endif()

if(FEDGUARD_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(FEDGUARD_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
