# LibTorch for the simulator (host/sim/, `fedguard simulate`): Debian's libtorch-dev, and zlib
# for the gzip-compressed IDX data files. Only host/sim/trainer_torch.cc and host/io/pt_round_torch.cc include torch headers.
if(FEDGUARD_TORCH)
  find_package(Torch REQUIRED)
  find_package(ZLIB REQUIRED)
  message(STATUS "fedguard: LibTorch ${Torch_VERSION} found: building the simulator")
endif()
