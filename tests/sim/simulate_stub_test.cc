// Without LibTorch, `fedguard simulate` exists and says so (exit code 4, unsupported).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

TEST(SimulateStub, SaysBuiltWithoutLibTorch) {
  const std::string log = ::testing::TempDir() + "/fedguard_simulate_stub.txt";
  const int status = std::system(
      (std::string(FEDGUARD_CLI_PATH) + " simulate --config nonexistent.json > '" + log + "' 2>&1")
          .c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 4);
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_NE(ss.str().find("built without LibTorch"), std::string::npos) << ss.str();
}
