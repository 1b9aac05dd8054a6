// The client registry file: every malformed input is an error naming the file and the entry;
// saves are atomic and round-trip exactly.
#include "fedguard/registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fedguard/error.h"

namespace fedguard::identity {
namespace {

std::string key(int i) {
  PrivateKey sk{};
  sk[0] = static_cast<std::uint8_t>(i + 1);
  return key_to_base64(public_key_of(sk));
}

std::string entry(const std::string& id, const std::string& k,
                  const std::string& status = "active") {
  return R"({"id": ")" + id + R"(", "public_key": ")" + k + R"(", "status": ")" + status +
         R"(", "enrolled_round": 3})";
}

std::string doc(const std::string& clients, const std::string& extra = "") {
  return R"({"version": 1, "federation": "fed", "max_clients": 10, "max_new_per_round": 2,)" +
         extra + R"( "clients": [)" + clients + "]}";
}

// The error's category and that its message names the file and contains `what`.
void expect_error(const std::string& text, ErrorCategory category, const std::string& what) {
  try {
    parse_registry(text, "R.json");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), category) << e.what();
    EXPECT_NE(std::string(e.what()).find("R.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(Registry, ParsesAValidFile) {
  const Registry r = parse_registry(doc(entry("a", key(0)) + "," + entry("b", key(1), "pending") +
                                            "," + entry("c", key(2), "revoked"),
                                        R"( "probation": {"rounds": 5, "max_share": 0.2},)"),
                                    "R.json");
  EXPECT_EQ(r.federation, "fed");
  EXPECT_EQ(r.max_clients, 10u);
  EXPECT_EQ(r.max_new_per_round, 2u);
  EXPECT_EQ(r.probation.rounds, 5u);
  EXPECT_DOUBLE_EQ(r.probation.max_share, 0.2);
  ASSERT_EQ(r.clients.size(), 3u);
  EXPECT_EQ(r.find("b")->status, ClientStatus::kPending);
  EXPECT_EQ(r.find("c")->status, ClientStatus::kRevoked);
  EXPECT_EQ(r.find("a")->enrolled_round, 3u);
  EXPECT_EQ(key_to_base64(r.find("a")->public_key), key(0));
  EXPECT_EQ(r.find("zz"), nullptr);
}

TEST(Registry, MalformedInputsNameFileAndEntry) {
  expect_error("{\"version\": 1, \"federation\": ", ErrorCategory::kIo, "offset");
  expect_error("[]", ErrorCategory::kInvalidInput, "JSON object");
  expect_error(doc(entry("a", key(0)) + "," + entry("a", key(1))), ErrorCategory::kInvalidInput,
               "clients[1]");
  expect_error(doc(entry("a", key(0)) + "," + entry("b", key(0))), ErrorCategory::kInvalidInput,
               "listed twice");
  expect_error(doc(entry("a", "AAAA$AAA")), ErrorCategory::kInvalidInput,
               "clients[0] (id 'a'): public_key");
  expect_error(doc(entry("a", "AAAA")), ErrorCategory::kInvalidInput, "3 bytes");
  expect_error(doc(entry("a", key(0), "banned")), ErrorCategory::kInvalidInput, "status 'banned'");
  expect_error(doc(entry("", key(0))), ErrorCategory::kInvalidInput, "id is empty");
  expect_error(
      doc(R"({"id": "a", "public_key": ")" + key(0) + R"(", "status": "active", "role": 1})"),
      ErrorCategory::kInvalidInput, "unknown field 'role'");
  expect_error(doc(R"({"id": "a", "status": "active"})"), ErrorCategory::kInvalidInput,
               "'public_key' is missing");
  expect_error(doc(R"({"id": "a", "public_key": ")" + key(0) +
                   R"(", "status": "active", "enrolled_round": -1})"),
               ErrorCategory::kInvalidInput, "enrolled_round");
  expect_error(R"({"version": 2, "federation": "f", "clients": []})", ErrorCategory::kInvalidInput,
               "version 2");
  expect_error(R"({"version": 1, "federation": "", "clients": []})", ErrorCategory::kInvalidInput,
               "federation");
  expect_error(R"({"version": 1, "federation": "f", "max_client": 3, "clients": []})",
               ErrorCategory::kInvalidInput, "unknown field 'max_client'");
  expect_error(R"({"version": 1, "federation": "f"})", ErrorCategory::kInvalidInput, "'clients'");
  expect_error(doc(entry("a", key(0)), R"( "probation": {"rounds": 1, "max_share": 0},)"),
               ErrorCategory::kInvalidInput, "max_share");
  expect_error(R"({"version": 1, "federation": "f", "max_clients": 1, "clients": [)" +
                   entry("a", key(0)) + "," + entry("b", key(1)) + "]}",
               ErrorCategory::kInvalidInput, "max_clients 1");
}

// Hostile probe (issue 17): the registry reader used its own nlohmann parse (a second
// "max_clients" silently won, nlohmann's "[json.exception...]" text in messages) and an
// ifstream (a FIFO blocked, /dev/zero read without end, a directory was "not valid JSON").
TEST(Registry, DuplicateKeysAndNulAreRefusedByTheOneParser) {
  expect_error(
      R"({"version": 1, "max_clients": 1, "max_clients": 0, "federation": "fed", "clients": []})",
      ErrorCategory::kIo, "duplicate key \"max_clients\"");
  expect_error(R"({"version": 1, "federation": "f\u0000d", "clients": []})", ErrorCategory::kIo,
               "NUL");
  try {
    parse_registry("{", "R.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos) << e.what();
  }
}

TEST(Registry, LoadOpensRegularFilesOnly) {
  const std::string dir = ::testing::TempDir() + "/registry_nonregular";
  std::filesystem::create_directories(dir);
  const std::string fifo = dir + "/fifo";
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, dir, std::string("/dev/zero")}) {
    try {
      load_registry(path);
      ADD_FAILURE() << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kIo);
      EXPECT_NE(std::string(e.what()).find(path + ": not a regular file"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Registry, AddRevokeAndCaps) {
  Registry r;
  r.federation = "fed";
  r.max_clients = 2;
  r.add({"a", key_from_base64(key(0), "k"), ClientStatus::kActive, 0});
  EXPECT_THROW(r.add({"a", key_from_base64(key(1), "k"), ClientStatus::kActive, 0}),
               Error);  // id twice
  EXPECT_THROW(r.add({"b", key_from_base64(key(0), "k"), ClientStatus::kActive, 0}),
               Error);  // key twice
  r.add({"b", key_from_base64(key(1), "k"), ClientStatus::kPending, 0});
  EXPECT_THROW(r.add({"c", key_from_base64(key(2), "k"), ClientStatus::kActive, 0}), Error);  // cap
  r.revoke("a");
  EXPECT_EQ(r.find("a")->status, ClientStatus::kRevoked);
  r.add({"c", key_from_base64(key(2), "k"), ClientStatus::kActive,
         0});  // revoked entries do not count
  EXPECT_THROW(r.add({"d", key_from_base64(key(0), "k"), ClientStatus::kActive, 0}),
               Error);  // a revoked key stays taken
  EXPECT_THROW(r.revoke("zz"), Error);
}

TEST(Registry, SaveIsAtomicAndRoundTrips) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("fg_registry_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "R.json").string();
  Registry r =
      parse_registry(doc(entry("a", key(0)) + "," + entry("b", key(1), "revoked")), "R.json");
  r.probation = {4, 0.25};
  save_registry(path, r);
  const Registry back = load_registry(path);
  EXPECT_EQ(registry_to_json(back), registry_to_json(r));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()),
            1)
      << "a temporary file was left behind";
  // An invalid registry is refused before anything is written; the old file stays.
  Registry bad = r;
  bad.clients.push_back(bad.clients[0]);
  EXPECT_THROW(save_registry(path, bad), Error);
  EXPECT_EQ(registry_to_json(load_registry(path)), registry_to_json(r));
  // A directory that cannot be written: kIo, the old file unchanged.
  if (::geteuid() != 0) {
    ::chmod(dir.c_str(), 0500);
    EXPECT_THROW(save_registry(path, r), Error);
    ::chmod(dir.c_str(), 0700);
  }
  EXPECT_THROW(load_registry((dir / "missing.json").string()), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fedguard::identity
