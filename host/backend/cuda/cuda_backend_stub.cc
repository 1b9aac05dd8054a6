// The CUDA backend's entry points in a build without CUDA: each throws "built without CUDA".
#include "backend/cuda/cuda_backend.h"

#include "fedguard/error.h"

namespace fedguard::backend {

std::unique_ptr<Backend> make_cuda_backend(const CudaOptions&) {
  FEDGUARD_THROW(kUnsupported, "the CUDA backend is not available: fedguard was built without CUDA");
}

int cuda_device_count() { return 0; }

std::shared_ptr<void> cuda_copy_to_device(const void*, std::size_t, int) {
  FEDGUARD_THROW(kUnsupported, "cannot copy to a CUDA device: fedguard was built without CUDA");
}

}  // namespace fedguard::backend
