// Device query for builds without CUDA (kernels/device_query.cu replaces this file otherwise).
#include "backend/cuda/devices.h"

namespace fedguard::backend {

std::vector<DeviceInfo> cuda_devices() { return {}; }
std::string cuda_status() { return "built without CUDA"; }

}  // namespace fedguard::backend
