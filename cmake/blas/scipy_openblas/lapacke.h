// FEDGUARD_BLAS=scipy-openblas: the package's LAPACKE, its symbols prefixed scipy_ (see cblas.h).
#pragma once
#include_next <lapacke.h>
#define LAPACKE_dgeqrf scipy_LAPACKE_dgeqrf
#define LAPACKE_dgesv scipy_LAPACKE_dgesv
#define LAPACKE_dgesvd scipy_LAPACKE_dgesvd
#define LAPACKE_dorgqr scipy_LAPACKE_dorgqr
#define LAPACKE_dsyevr scipy_LAPACKE_dsyevr
