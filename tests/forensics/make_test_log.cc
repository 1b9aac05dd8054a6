// fedguard_make_test_log DIR [ROUNDS] [CLIENTS]: writes a synthetic update log with ground
// truth (tests/forensics/synthetic_log.h), for trying `fedguard scan` and its report.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "forensics/synthetic_log.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [ROUNDS] [CLIENTS]\n", argv[0]);
    return 2;
  }
  fedguard::test::SyntheticLogSpec spec;
  if (argc > 2) spec.rounds = std::strtoul(argv[2], nullptr, 10);
  if (argc > 3) spec.clients = std::strtoul(argv[3], nullptr, 10);
  try {
    fedguard::test::write_synthetic_log(argv[1], spec);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
