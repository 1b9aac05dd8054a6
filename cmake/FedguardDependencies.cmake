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

# OpenBLAS for GEMM/SYRK (its cblas interface), LAPACKE for eigen-solves.
find_library(FEDGUARD_OPENBLAS_LIBRARY NAMES openblas REQUIRED)
find_path(FEDGUARD_CBLAS_INCLUDE_DIR cblas.h
  HINTS /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas REQUIRED)
find_library(FEDGUARD_LAPACKE_LIBRARY NAMES lapacke REQUIRED)
find_path(FEDGUARD_LAPACKE_INCLUDE_DIR lapacke.h REQUIRED)
add_library(fedguard_blas INTERFACE)
target_include_directories(fedguard_blas INTERFACE ${FEDGUARD_CBLAS_INCLUDE_DIR} ${FEDGUARD_LAPACKE_INCLUDE_DIR})
target_link_libraries(fedguard_blas INTERFACE ${FEDGUARD_LAPACKE_LIBRARY} ${FEDGUARD_OPENBLAS_LIBRARY})

if(FEDGUARD_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(FEDGUARD_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
