// The entry of libfedguard_cuda.so (plugin.h): the table of the CUDA backend's functions.
#include "backend/cuda/plugin.h"

extern "C" const fedguard::backend::cuda::PluginTable* fedguard_cuda_plugin_v1() {
  namespace cuda = fedguard::backend::cuda;
  static const cuda::PluginTable table = [] {
    cuda::PluginTable t;
    t.version = FEDGUARD_VERSION;
    t.options_size = sizeof(fedguard::backend::CudaOptions);
    t.make_backend = &cuda::make_backend;
    t.device_count = &cuda::device_count;
    t.copy_to_device = &cuda::copy_to_device;
    t.devices = &cuda::devices;
    t.status = &cuda::status;
    return t;
  }();
  return &table;
}
