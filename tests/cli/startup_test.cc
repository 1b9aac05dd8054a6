// What `fedguard` loads (issue #12): LibTorch and the CUDA libraries are plugins opened only by
// the commands and machines that need them, so `--version`, `round`, `scan` of .npy logs and
// the rest start without them. Checked on the linked binary (ldd) and on what the dynamic loader
// actually opens at run time (LD_DEBUG=files).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cpu/blas_library.h"

namespace fedguard::test {
namespace {

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/fedguard_startup_" + std::to_string(::getpid()) + "_" + name;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs a shell command; returns its stdout and stderr together.
std::string run(const std::string& command) {
  const std::string out = temp_path("out.txt");
  const int status = std::system((command + " >" + out + " 2>&1").c_str());
  EXPECT_TRUE(WIFEXITED(status)) << command;
  return slurp(out);
}

// Every file the dynamic loader loaded while the CLI ran `args`: the LD_DEBUG=files lines
// "file=<path> [0];  generating link map" (a failed attempt, such as looking for the NVIDIA
// driver on a machine without one, prints no such line).
std::string files_opened(const std::string& args) {
  std::istringstream all(run("LD_DEBUG=files " + std::string(FEDGUARD_CLI_PATH) + " " + args));
  std::string line, loaded;
  while (std::getline(all, line))
    if (line.find("generating link map") != std::string::npos) loaded += line + "\n";
  return loaded;
}

const std::vector<std::string> kHeavy = {
    "libtorch",   "libc10",           "libcudart",         "libcublas", "libcusolver",
    "libcuda.so", "libfedguard_cuda", "libfedguard_torch", "libnccl"};

TEST(CliStartup, TheBinaryLinksNeitherLibTorchNorCuda) {
  const std::string ldd = run("ldd " + std::string(FEDGUARD_CLI_PATH));
  ASSERT_NE(ldd.find("libc.so"), std::string::npos) << ldd;  // ldd worked
  for (const auto& lib : kHeavy)
    EXPECT_EQ(ldd.find(lib), std::string::npos) << lib << " in\n" << ldd;
}

TEST(CliStartup, VersionAndASmallRoundOpenNoPlugin) {
  const std::string version = files_opened("--version");
  ASSERT_NE(version.find("libc.so"), std::string::npos) << "LD_DEBUG gave nothing:\n" << version;
  for (const auto& lib : kHeavy)
    EXPECT_EQ(version.find(lib), std::string::npos) << lib << " opened by --version";
  // The demo's rounds use backend "auto": where a driver is present that rightly opens the CUDA
  // plugin; LibTorch never.
  const bool driver = std::ifstream("/proc/driver/nvidia/version").good();
  const std::string demo = files_opened("demo --benign 8 --attackers 2 -d 64");
  for (const auto& lib : kHeavy) {
    if (!driver || lib.find("torch") != std::string::npos || lib == "libc10") {
      EXPECT_EQ(demo.find(lib), std::string::npos) << lib << " opened by demo";
    }
  }
}

// On a machine without an NVIDIA driver `fedguard info` reports a CPU-only machine without
// opening the CUDA plugin or the runtime (the loader looks for libcuda.so.1 first).
TEST(CliStartup, InfoOnACpuOnlyMachineOpensNoCudaLibrary) {
  if (std::ifstream("/proc/driver/nvidia/version").good())
    GTEST_SKIP() << "an NVIDIA driver is present";
  const std::string info = files_opened("info");
  for (const auto& lib : {"libcudart", "libcublas", "libfedguard_cuda"})
    EXPECT_EQ(info.find(lib), std::string::npos) << lib << " opened by info";
}

#ifdef FEDGUARD_TORCH_PLUGIN_PATH
// `fedguard simulate` is the command that opens the LibTorch plugin (here: with a config file
// that does not exist, so it stops right after loading it).
TEST(CliStartup, SimulateOpensTheLibTorchPlugin) {
  const std::string sim = files_opened("simulate --config " + temp_path("missing.json"));
  EXPECT_NE(sim.find("libfedguard_torch.so"), std::string::npos) << sim.substr(0, 4000);
  EXPECT_NE(sim.find("libtorch"), std::string::npos);
}

TEST(CliStartup, TheLibTorchPluginExportsOnlyItsEntry) {
  const std::string syms = run("nm -D --defined-only " + std::string(FEDGUARD_TORCH_PLUGIN_PATH));
  EXPECT_NE(syms.find("fedguard_torch_plugin_v1"), std::string::npos) << syms;
  EXPECT_EQ(syms.find("fedguard5Error"), std::string::npos) << "the core's symbols leak:\n"
                                                            << syms.substr(0, 2000);
}
#endif

#ifdef FEDGUARD_CUDA_PLUGIN_PATH
TEST(CliStartup, TheCudaPluginExportsOnlyItsEntry) {
  const std::string syms = run("nm -D --defined-only " + std::string(FEDGUARD_CUDA_PLUGIN_PATH));
  EXPECT_NE(syms.find("fedguard_cuda_plugin_v1"), std::string::npos) << syms;
  EXPECT_EQ(syms.find("fedguard5Error"), std::string::npos) << "the core's symbols leak:\n"
                                                            << syms.substr(0, 2000);
}
#endif

// The kernel OpenBLAS runs, from `fedguard info`'s "BLAS: OpenBLAS 0.3.21, kernel <name>, ..."
// line, or "" when the build uses another BLAS.
std::string blas_kernel_in(const std::string& info) {
  const std::string tag = "BLAS: OpenBLAS ";
  const std::size_t line = info.find(tag);
  if (line == std::string::npos) return "";
  const std::size_t at = info.find(", kernel ", line);
  if (at == std::string::npos) return "";
  const std::size_t from = at + 9;
  return info.substr(from, info.find(',', from) - from);
}

// OpenBLAS falls back to SSE3 kernels on processor models it does not know (0.3.21 on Emerald
// Rapids); the command line then starts itself again with OPENBLAS_CORETYPE naming the kernels
// the processor runs (cli/blas_kernel.h). On a processor OpenBLAS knows, its choice stands.
TEST(CliStartup, RunsTheBlasKernelsTheProcessorHas) {
  const std::string cli = FEDGUARD_CLI_PATH;
  const std::string plain =
      run("env -u OPENBLAS_CORETYPE -u FEDGUARD_KEEP_BLAS_KERNEL " + cli + " info");
  const std::string kept =
      run("env -u OPENBLAS_CORETYPE FEDGUARD_KEEP_BLAS_KERNEL=1 " + cli + " info");
  const std::string running = blas_kernel_in(plain), own = blas_kernel_in(kept);
  if (running.empty()) GTEST_SKIP() << "not an OpenBLAS build:\n" << plain;
  ASSERT_FALSE(own.empty()) << kept;
#if defined(__x86_64__) && defined(__GNUC__)
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  const bool avx2 = false;
#endif
  if (avx2) {
    EXPECT_EQ(backend::cpu::better_openblas_kernel(running, false, true), "")
        << "an AVX2 processor runs OpenBLAS's " << running << " kernels:\n"
        << plain;
  }
  const bool raised = avx2 && !backend::cpu::better_openblas_kernel(own, false, true).empty();
  if (raised) {  // this machine shows the fallback: both lines say what happened
    EXPECT_NE(running, own);
    EXPECT_NE(plain.find("BLAS kernel: " + running +
                         ", named by fedguard (OPENBLAS_CORETYPE): "
                         "OpenBLAS had picked " +
                         own),
              std::string::npos)
        << plain;
    EXPECT_NE(kept.find("BLAS kernel: " + own + " is below this processor ("), std::string::npos)
        << kept;
  } else {
    EXPECT_EQ(running, own);
    EXPECT_EQ(plain.find("BLAS kernel:"), std::string::npos) << plain;
    EXPECT_EQ(kept.find("BLAS kernel:"), std::string::npos) << kept;
  }
  // A kernel the user names is kept, whatever it is, and nothing is said about it.
  const std::string named =
      run("env -u FEDGUARD_KEEP_BLAS_KERNEL OPENBLAS_CORETYPE=Prescott " + cli + " info");
  EXPECT_EQ(blas_kernel_in(named), "Prescott") << named;
  EXPECT_EQ(named.find("BLAS kernel:"), std::string::npos) << named;
}

}  // namespace
}  // namespace fedguard::test
