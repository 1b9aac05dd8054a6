// FEDGUARD_BLAS=mkl: MKL names its CBLAS header mkl_cblas.h; fedguard's sources keep including
// <cblas.h>. This directory comes first on the include path.
#pragma once
#include <mkl_cblas.h>
