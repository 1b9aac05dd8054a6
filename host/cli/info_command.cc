#include <omp.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "backend/cpu/blas_library.h"
#include "backend/cpu/tile_gram.h"
#include "backend/cuda/devices.h"
#include "backend/cuda/plan.h"
#include "cli/commands.h"
#include "fedguard/engine.h"
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::cli {
namespace {}  // namespace

void add_info_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("info", "Version, backends built, devices found");
  cmd->callback([&exit_code] {
    std::printf("fedguard %s\n", version().c_str());
    std::printf("backends built: ");
    const auto built = backends_built();
    for (std::size_t i = 0; i < built.size(); ++i)
      std::printf("%s%s", i ? ", " : "", built[i].c_str());
    std::printf("\ncpu: %d threads\nBLAS: %s\npass-1 Gram: %s\n", omp_get_max_threads(),
                backend::cpu::blas_description().c_str(),
                backend::cpu::tile_gram_description().c_str());
    // Whether the BLAS runs the kernels this processor has (cli/blas_kernel.h).
    const backend::cpu::BlasKernelAdvice advice = backend::cpu::blas_kernel_advice();
    const char* raised_from = std::getenv("FEDGUARD_BLAS_KERNEL_RAISED_FROM");
    if (raised_from && std::getenv("OPENBLAS_CORETYPE"))
      std::printf(
          "BLAS kernel: %s, named by fedguard (OPENBLAS_CORETYPE): OpenBLAS had picked %s, "
          "below this processor's vector width; FEDGUARD_KEEP_BLAS_KERNEL=1 keeps its choice; "
          "Python processes need OPENBLAS_CORETYPE=%s set before they start\n",
          advice.running.c_str(), raised_from, advice.running.c_str());
    else if (!advice.better.empty())
      std::printf(
          "BLAS kernel: %s is below this processor (%s): OPENBLAS_CORETYPE=%s runs its kernels "
          "(3-5x on Grams above 512 clients and on NNM's mixing)\n",
          advice.running.c_str(), advice.cpu.c_str(), advice.better.c_str());
    const auto devices = backend::cuda_devices();
    if (devices.empty()) std::printf("cuda: %s\n", backend::cuda_status().c_str());
    for (const auto& dev : devices)
      std::printf("cuda device %d: %s, %.1f GiB, compute capability %d.%d\n", dev.ordinal,
                  dev.name.c_str(), static_cast<double>(dev.memory_bytes) / (1 << 30),
                  dev.compute_major, dev.compute_minor);
    try {
      const std::size_t limit = backend::cuda_plan::memory_limit_from_env();
      if (limit) std::printf("cuda memory limit: %zu bytes (FEDGUARD_CUDA_MEMORY_LIMIT)\n", limit);
    } catch (const Error& e) {
      std::printf("cuda memory limit: invalid (%s)\n", e.what());
    }
    std::printf("backend auto: %s\n", devices.empty() ? "cpu" : "cuda (device 0)");
    std::printf("rules: ");
    const auto names = rules::rule_names();
    for (std::size_t i = 0; i < names.size(); ++i)
      std::printf("%s%s", i ? ", " : "", names[i].c_str());
    std::printf("\n");
    exit_code = 0;
  });
}

}  // namespace fedguard::cli
