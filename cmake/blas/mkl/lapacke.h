// FEDGUARD_BLAS=mkl: MKL's own LAPACKE (mkl_lapacke.h), under the standard name (see cblas.h).
#pragma once
#include <mkl_lapacke.h>
