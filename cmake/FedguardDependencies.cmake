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
# (issue 19; the measurement behind the default: docs/performance.md,
# bench/results/blas_2026-12-04.md):
#   openblas        Debian's libopenblas-dev + liblapacke-dev (default, CI)
#   scipy-openblas  PyPI scipy-openblas32 (a current OpenBLAS, numpy's own; symbols prefixed
#                   scipy_, mapped by cmake/blas/scipy_openblas/), found through the Python of
#                   FEDGUARD_BLAS_PYTHON (default python3); `pip install scipy-openblas32`
#   blis            Debian's libblis-dev (its OpenMP variant by default, see below) for BLAS;
#                   LAPACKE from liblapacke, whose LAPACK is Debian's liblapack.so.3 alternative
#   mkl             PyPI mkl-devel (+ mkl-include) through Intel's MKLConfig.cmake found via the
#                   Python of FEDGUARD_BLAS_PYTHON; LP64, GNU OpenMP threading layer (fedguard's
#                   own OpenMP runtime: one runtime in the process), MKL's own LAPACKE;
#                   `pip install mkl-devel mkl-include`
# FEDGUARD_BLAS_FAMILY (openblas | blis | mkl) picks host/backend/cpu/blas_<family>.cc: the one
# file that sets the library's threads and describes it.
set(FEDGUARD_BLAS "openblas" CACHE STRING "BLAS/LAPACK to build against: openblas | scipy-openblas | blis | mkl")
set_property(CACHE FEDGUARD_BLAS PROPERTY STRINGS openblas scipy-openblas blis mkl)
set(FEDGUARD_BLAS_PYTHON "python3" CACHE STRING "Python whose packages FEDGUARD_BLAS=scipy-openblas or mkl use")
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
  set(FEDGUARD_BLAS_FAMILY openblas)
elseif(FEDGUARD_BLAS STREQUAL "scipy-openblas")
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
  set(FEDGUARD_BLAS_FAMILY openblas)
elseif(FEDGUARD_BLAS STREQUAL "blis")
  # Debian builds BLIS three ways (libblis-{openmp,pthread,serial}-dev, each in its own
  # directory; libblis-dev pulls the OpenMP one). A threaded variant is preferred so that the
  # benchmark's BLAS floor can use every core; fedguard's workers set one thread per call
  # (bli_thread_set_num_threads(1)), as with OpenBLAS.
  set(FEDGUARD_BLIS_VARIANT "" CACHE STRING "Debian BLIS variant: blis-openmp | blis-pthread | blis-serial (empty: the first installed)")
  set(_fedguard_blis_variants blis-openmp blis-pthread blis-serial)
  if(FEDGUARD_BLIS_VARIANT)
    set(_fedguard_blis_variants ${FEDGUARD_BLIS_VARIANT})
  endif()
  foreach(_v IN LISTS _fedguard_blis_variants)
    if(EXISTS /usr/include/x86_64-linux-gnu/${_v}/blis.h AND EXISTS /usr/lib/x86_64-linux-gnu/${_v}/libblis.so)
      set(_fedguard_blis ${_v})
      break()
    endif()
  endforeach()
  if(NOT _fedguard_blis)
    message(FATAL_ERROR "FEDGUARD_BLAS=blis: none of ${_fedguard_blis_variants} is installed "
                        "(apt-get install libblis-dev)")
  endif()
  # The variant's own directory: its cblas.h (BLIS's CBLAS) comes before any other on the path,
  # and the library file is the variant's, not the libblis.so alternative.
  find_library(FEDGUARD_BLIS_LIBRARY NAMES blis PATHS /usr/lib/x86_64-linux-gnu/${_fedguard_blis} NO_DEFAULT_PATH REQUIRED)
  find_library(FEDGUARD_LAPACKE_LIBRARY NAMES lapacke REQUIRED)
  find_path(FEDGUARD_LAPACKE_INCLUDE_DIR lapacke.h REQUIRED)
  target_include_directories(fedguard_blas INTERFACE /usr/include/x86_64-linux-gnu/${_fedguard_blis} ${FEDGUARD_LAPACKE_INCLUDE_DIR})
  # BLIS first on the link line: the process's cblas_* resolve to it even though liblapacke's
  # LAPACK (the liblapack.so.3 alternative, OpenBLAS's where installed) brings its own BLAS.
  target_link_libraries(fedguard_blas INTERFACE ${FEDGUARD_BLIS_LIBRARY} ${FEDGUARD_LAPACKE_LIBRARY})
  # libblis.so.4 lives in the variant's directory, which the loader does not search by default
  # (Debian points /usr/lib/x86_64-linux-gnu/libblis.so.4 at one variant by alternatives).
  target_link_options(fedguard_blas INTERFACE "LINKER:-rpath,/usr/lib/x86_64-linux-gnu/${_fedguard_blis}")
  set(FEDGUARD_BLAS_NAME "Debian BLIS (${_fedguard_blis})")
  set(FEDGUARD_BLAS_FAMILY blis)
elseif(FEDGUARD_BLAS STREQUAL "mkl")
  execute_process(
    COMMAND ${FEDGUARD_BLAS_PYTHON} -c
      "import importlib.metadata as m; print(next(f.locate().resolve().parent for f in m.files('mkl-devel') if f.name == 'MKLConfig.cmake'))"
    OUTPUT_VARIABLE _fedguard_mkl_dir OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _fedguard_mkl_rc)
  if(NOT _fedguard_mkl_rc EQUAL 0)
    message(FATAL_ERROR "FEDGUARD_BLAS=mkl: ${FEDGUARD_BLAS_PYTHON} has no mkl-devel with MKLConfig.cmake "
                        "(pip install mkl-devel mkl-include)")
  endif()
  # Intel's link line for GCC + GNU OpenMP (its pkg-config mkl-dynamic-lp64-gomp): one OpenMP
  # runtime in the process, and no run-time threading-layer choice (mkl_rt picks Intel OpenMP
  # unless told otherwise before its first call). MKLConfig adds the rpath to its directory.
  set(MKL_LINK dynamic)
  set(MKL_INTERFACE lp64)
  set(MKL_THREADING gnu_thread)
  find_package(MKL CONFIG REQUIRED PATHS ${_fedguard_mkl_dir} NO_DEFAULT_PATH)
  # cblas.h / lapacke.h that include MKL's mkl_cblas.h / mkl_lapacke.h (the sources keep the
  # standard names).
  target_include_directories(fedguard_blas INTERFACE ${CMAKE_CURRENT_LIST_DIR}/blas/mkl)
  target_link_libraries(fedguard_blas INTERFACE MKL::MKL)
  set(FEDGUARD_BLAS_NAME "oneMKL (PyPI mkl-devel)")
  set(FEDGUARD_BLAS_FAMILY mkl)
else()
  message(FATAL_ERROR "FEDGUARD_BLAS=${FEDGUARD_BLAS}: supported are openblas, scipy-openblas, blis and mkl")
endif()

if(FEDGUARD_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(FEDGUARD_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
