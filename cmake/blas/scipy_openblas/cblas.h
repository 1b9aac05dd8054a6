// FEDGUARD_BLAS=scipy-openblas: PyPI scipy-openblas32 (numpy's own OpenBLAS) exports every symbol
// with the prefix scipy_. fedguard's sources keep calling the plain CBLAS names; this header
// (first on the include path) includes the package's own cblas.h and maps the names used.
#pragma once
#include_next <cblas.h>
#define cblas_sgemm scipy_cblas_sgemm
#define cblas_dgemm scipy_cblas_dgemm
#define cblas_ssyrk scipy_cblas_ssyrk
#define cblas_dsyrk scipy_cblas_dsyrk
#define openblas_set_num_threads scipy_openblas_set_num_threads
#define openblas_get_config scipy_openblas_get_config
#define openblas_get_corename scipy_openblas_get_corename
#define openblas_get_parallel scipy_openblas_get_parallel
