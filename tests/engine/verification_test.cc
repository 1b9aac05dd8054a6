// Client verification in the engine (docs/verification.md): every rejection reason rejects that
// client before pass 1 and the others are aggregated exactly; nothing that failed verification
// is accepted; a failed round changes no state; replay protection survives a state file;
// new-client probation caps the share of clients on probation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <tuple>

#include "engine/verify_stage.h"
#include "fedguard/fedguard.h"
#include "fedguard/registry.h"

namespace fedguard {
namespace {

using identity::ClientStatus;

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class Verification : public ::testing::Test {
 protected:
  static constexpr std::size_t kN = 8, kD = 300;
  void SetUp() override {
    registry.federation = "fl-test";
    std::mt19937 rng(11);
    std::normal_distribution<float> g;
    for (std::size_t i = 0; i < kN + 4; ++i) {
      ids.push_back("client-" + std::to_string(i));
      keys.push_back(identity::generate_key_pair());
      if (i < kN) registry.add({ids[i], keys[i].public_key, ClientStatus::kActive, 0});
    }
    data.resize(kN * kD);
    for (float& v : data) v = g(rng);
  }
  Engine engine(const std::string& policy = R"({"aggregator": {"rule": "mean"}})") {
    Engine e(EngineConfig::from_json(policy));
    e.set_registry(registry);
    return e;
  }
  // A round where row i is client `who[i]`'s update, signed by that client for (round, nonce).
  RoundInput round_of(const std::vector<std::size_t>& who, std::uint64_t round,
                      const identity::Nonce& nonce) {
    RoundInput in;
    in.updates = UpdateView(data.data(), who.size(), kD, DType::kFloat32);
    in.round = round;
    in.nonce = nonce;
    for (std::size_t i = 0; i < who.size(); ++i) {
      in.client_ids.push_back(ids[who[i]]);
      in.signatures.push_back(sign_row(who[i], i, round, nonce));
    }
    return in;
  }
  std::string sign_row(std::size_t client, std::size_t row, std::uint64_t round,
                       const identity::Nonce& nonce) {
    const identity::Signature s =
        identity::sign_update(keys[client].private_key, registry.federation, ids[client], round,
                              nonce, "float32", kD, data.data() + row * kD);
    return identity::base64_encode(s.data(), s.size());
  }
  // float64 weighted sum of rows, the brute-force reference.
  std::vector<double> weighted(const std::vector<double>& w) const {
    std::vector<double> out(kD, 0.0);
    for (std::size_t i = 0; i < w.size(); ++i)
      for (std::size_t j = 0; j < kD; ++j) out[j] += w[i] * data[i * kD + j];
    return out;
  }
  static void expect_near(const std::vector<float>& got, const std::vector<double>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t j = 0; j < got.size(); ++j) EXPECT_NEAR(got[j], want[j], 1e-5) << j;
  }

  identity::Registry registry;
  std::vector<std::string> ids;
  std::vector<identity::KeyPair> keys;
  std::vector<float> data;
};

TEST_F(Verification, HonestRoundMatchesTheUnverifiedRound) {
  Engine e = engine();
  const RoundInput in = round_of({0, 1, 2, 3, 4, 5, 6, 7}, 1, identity::new_nonce());
  const RoundResult r = e.process_round(in);
  EXPECT_TRUE(r.reasons.empty());
  EXPECT_TRUE(r.verification_ran);
  EXPECT_EQ(r.verification.verified, kN);
  EXPECT_EQ(r.verification.new_clients, kN);
  expect_near(r.aggregate, weighted(std::vector<double>(kN, 1.0 / kN)));
  const auto j = r.to_json();
  EXPECT_EQ(j["verification"]["round"], 1);
  EXPECT_EQ(j["verification"]["nonce"], identity::hex_encode(in.nonce.data(), 32));
  Engine plain(EngineConfig::from_json(R"({"aggregator": {"rule": "mean"}})"));
  RoundInput no_sig = in;
  no_sig.signatures.clear();
  EXPECT_EQ(plain.process_round(no_sig).aggregate, r.aggregate);
  EXPECT_FALSE(plain.process_round(no_sig).to_json().contains("verification"));
}

// Digests computed on arrival (RoundInput::update_digests) replace the stage's hashing: with
// the right digests the round is the same as without; a digest that is not the update's
// makes that client's signature fail (the engine verifies what it was told arrived); a count
// that is not n fails the round and changes nothing.
TEST_F(Verification, DigestsComputedOnArrivalReplaceTheStagesHashing) {
  const identity::Nonce nonce = identity::new_nonce();
  RoundInput in = round_of({0, 1, 2, 3, 4, 5, 6, 7}, 1, nonce);
  Engine hashed = engine();
  const RoundResult want = hashed.process_round(in);
  for (std::size_t i = 0; i < kN; ++i)
    in.update_digests.push_back(identity::sha256(data.data() + i * kD, kD * 4));
  Engine given = engine();
  const RoundResult got = given.process_round(in);
  EXPECT_EQ(got.aggregate, want.aggregate);
  EXPECT_EQ(got.verification.verified, kN);

  RoundInput wrong = round_of({0, 1, 2, 3, 4, 5, 6, 7}, 1, nonce);
  wrong.update_digests = in.update_digests;
  wrong.update_digests[2][0] ^= 1;
  Engine e = engine();
  const RoundResult r = e.process_round(wrong);
  ASSERT_NE(r.rejection_of(ids[2]), nullptr);
  EXPECT_EQ(r.rejection_of(ids[2])->code, ReasonCode::kBadSignature);
  EXPECT_EQ(r.rejected_ids().size(), 1u);

  RoundInput short_list = round_of({0, 1, 2, 3, 4, 5, 6, 7}, 1, identity::new_nonce());
  short_list.update_digests.assign(in.update_digests.begin(), in.update_digests.begin() + 3);
  Engine f = engine();
  EXPECT_THROW(f.process_round(short_list), Error);
  EXPECT_EQ(f.rounds_processed(), 0u);
}

TEST_F(Verification, EveryReasonRejectsThatClientAndTheRestAggregate) {
  Engine e = engine();
  const identity::Nonce n1 = identity::new_nonce(), n2 = identity::new_nonce();
  ASSERT_NO_THROW(e.process_round(round_of({0, 1, 2, 3, 4, 5, 6, 7}, 1, n1)));
  registry.add({ids[8], keys[8].public_key, ClientStatus::kPending, 1});
  registry.revoke(ids[3]);
  e.set_registry(registry);

  RoundInput in = round_of({0, 1, 2, 3, 4, 5, 6, 7}, 2, n2);
  in.client_ids[1] = "stranger";  // unknown_client
  in.signatures[2].clear();       // missing_signature
  // row 3: revoked_client (client 3 revoked)
  in.client_ids[4] = ids[8];  // revoked_client (pending)
  in.signatures[4] = sign_row(8, 4, 2, n2);
  in.signatures[5] = sign_row(5, 5, 1, n1);  // stale_round: signed for round 1
  in.signatures[6] = "@@@@";                 // bad_signature (not base64)
  std::vector<float> tampered = data;
  tampered[7 * kD + kD - 1] =
      std::nextafter(tampered[7 * kD + kD - 1], 10.0f);  // bad_signature (one bit)
  in.updates = UpdateView(tampered.data(), kN, kD, DType::kFloat32);
  const RoundResult r = e.process_round(in);
  const std::map<std::size_t, std::string> want = {
      {1, "unknown_client"}, {2, "missing_signature"}, {3, "revoked_client"}, {4, "revoked_client"},
      {5, "stale_round"},    {6, "bad_signature"},     {7, "bad_signature"}};
  for (const auto& [i, code] : want) {
    ASSERT_TRUE(r.reasons.count(i)) << i;
    EXPECT_EQ(r.reasons.at(i).substr(0, code.size()), code) << r.reasons.at(i);
    EXPECT_EQ(r.accepted[i], 0) << i;
    EXPECT_EQ(r.weights[i], 0.0) << i;
    EXPECT_TRUE(std::isnan(r.scores.at("norm")[i])) << "row " << i << " was scanned";
  }
  EXPECT_NE(r.reasons.at(4).find("pending"), std::string::npos);
  EXPECT_EQ(r.accepted[0], 1);
  expect_near(r.aggregate, weighted({1.0}));
}

TEST_F(Verification, FailedRoundsChangeNothing) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("fg_verif_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string before = (dir / "a.state").string(), after = (dir / "b.state").string();
  Engine e = engine();
  const identity::Nonce n1 = identity::new_nonce();
  e.process_round(round_of({0, 1, 2, 3}, 1, n1));
  e.save_state(before);

  RoundInput zero = round_of({0, 1, 2, 3}, 2, identity::Nonce{});
  EXPECT_THROW(e.process_round(zero), Error);                           // nonce all zero
  EXPECT_THROW(e.process_round(round_of({0, 1, 2, 3}, 2, n1)), Error);  // nonce of the last round
  RoundInput all_bad = round_of({0, 1, 2, 3}, 2, identity::new_nonce());
  for (auto& s : all_bad.signatures) s.clear();
  try {
    e.process_round(all_bad);
    ADD_FAILURE() << "a round with no verified client succeeded";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("missing_signature 4"), std::string::npos) << err.what();
  }
  RoundInput no_ids = round_of({0, 1, 2, 3}, 2, identity::new_nonce());
  no_ids.client_ids.clear();
  EXPECT_THROW(e.process_round(no_ids), Error);
  RoundInput few_sigs = round_of({0, 1, 2, 3}, 2, identity::new_nonce());
  few_sigs.signatures.pop_back();
  EXPECT_THROW(e.process_round(few_sigs), Error);

  e.save_state(after);
  EXPECT_EQ(e.rounds_processed(), 1u);
  EXPECT_EQ(file_bytes(before), file_bytes(after));
  EXPECT_EQ(e.registry()->clients.size(), registry.clients.size());
  std::filesystem::remove_all(dir);
}

TEST_F(Verification, ReplayProtectionSurvivesTheStateFile) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("fg_replay_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "s.state").string();
  {
    Engine e = engine();
    e.process_round(round_of({0, 1, 2, 3}, 5, identity::new_nonce()));
    e.save_state(path);
  }
  Engine e = engine();
  e.load_state(path);
  // The server re-runs round 5 (and round 4) with fresh nonces: valid signatures, but those
  // clients already have a verified update for round 5.
  for (std::uint64_t round : {5u, 4u}) {
    const std::size_t fresh = round == 5 ? 4 : 6;  // clients with no update yet
    const RoundResult r =
        e.process_round(round_of({0, 1, fresh, fresh + 1}, round, identity::new_nonce()));
    EXPECT_EQ(r.reasons.at(0).substr(0, 8), "replayed");
    EXPECT_EQ(r.reasons.at(1).substr(0, 8), "replayed");
    EXPECT_EQ(r.accepted[2] + r.accepted[3], 2);
  }
  std::filesystem::remove_all(dir);
}

// The state file's verification fields (version 3) are validated like the rest: a corrupted
// field is an error naming the file, and the engine keeps its state.
TEST_F(Verification, StateFileRejectsMalformedVerificationFields) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("fg_vstate_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "s.state").string();
  Engine e = engine();
  e.process_round(round_of({0, 1}, 3, identity::new_nonce()));
  e.save_state(path);
  const std::string bytes = file_bytes(path);
  std::uint64_t len;
  std::memcpy(&len, bytes.data() + 8, 8);
  const std::string header = bytes.substr(16, len), payload = bytes.substr(16 + len);
  ASSERT_NE(header.find(R"("verified":[3,3])"), std::string::npos) << header;
  ASSERT_NE(header.find(R"("verification":{"nonce":")"), std::string::npos) << header;
  auto write_with = [&](const std::string& from, const std::string& to) {
    std::string h = header;
    h.replace(h.find(from), from.size(), to);
    const std::uint64_t n = h.size();
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), 8);
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << h << payload;
  };
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {R"("verified":[3,3])", R"("verified":[4,3])"},
           {R"("verified":[3,3])", R"("verified":[3])"},
           {R"("verified":[3,3])", R"("verified":"yes")"},
           {R"("verification":{"nonce":")", R"("verification":{"nonce":"zz)"},
           {R"("verification":{"nonce":")", R"("verification":{"nonce":5,"x":")"}}) {
    write_with(from, to);
    try {
      e.load_state(path);
      ADD_FAILURE() << "accepted " << to;
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(path), std::string::npos) << err.what();
    }
  }
  // The engine still holds round 3's record: a replay of round 3 is caught.
  const RoundResult r = e.process_round(round_of({0, 2}, 3, identity::new_nonce()));
  EXPECT_EQ(r.reasons.at(0).substr(0, 8), "replayed");
  std::filesystem::remove_all(dir);
}

TEST_F(Verification, DuplicatesForgedCopyDoesNotBlockTheGenuineUpdate) {
  Engine e = engine(R"({"aggregator": {"rule": "mean"}, "duplicate_ids": "error"})");
  const identity::Nonce nonce = identity::new_nonce();
  RoundInput in = round_of({0, 0, 1, 1}, 3, nonce);
  in.signatures[0] = sign_row(0, 1, 3, nonce);  // row 0 carries row 1's signature: forged
  const RoundResult r = e.process_round(in);
  EXPECT_EQ(r.reasons.at(0).substr(0, 13), "bad_signature");
  EXPECT_EQ(r.accepted[1], 1);
  EXPECT_EQ(r.accepted[2], 1);
  EXPECT_EQ(r.reasons.at(3).substr(0, 8), "replayed");
  expect_near(r.aggregate, weighted({0.0, 0.5, 0.5}));
}

TEST_F(Verification, ProbationCapsTheShareOfNewClients) {
  registry.probation = {2, 0.2};
  registry.max_new_per_round = 2;
  for (std::size_t i = kN; i < kN + 3; ++i)
    registry.add({ids[i], keys[i].public_key, ClientStatus::kActive, 0});
  Engine e = engine();
  // Round 1: everyone is new, nobody established: no cap (reported as such), cap on new ids.
  RoundResult r = e.process_round(round_of({0, 1}, 1, identity::new_nonce()));
  EXPECT_EQ(r.verification.on_probation, 2u);
  EXPECT_DOUBLE_EQ(r.verification.probation_share_after, 1.0);
  r = e.process_round(round_of({2, 3}, 2, identity::new_nonce()));
  r = e.process_round(
      round_of({0, 1, 2}, 3,
               identity::new_nonce()));  // 0, 1 established now; 2 on probation (first: round 2)
  EXPECT_EQ(r.scores.at("probation")[0], 0.0);
  EXPECT_EQ(r.scores.at("probation")[2], 1.0);
  // Round 4: clients 0, 1, 2, 3 and three new ones; the cap admits two new ones.
  r = e.process_round(round_of({0, 1, 2, 3, kN, kN + 1, kN + 2}, 4, identity::new_nonce()));
  EXPECT_TRUE(r.verification.burst);
  EXPECT_EQ(r.verification.new_clients, 3u);
  EXPECT_EQ(r.reasons.at(6).substr(0, 14), "enrollment_cap");
  // Established: 0, 1 (first verified round 1), 2, 3 (round 2). On probation: the two new
  // ones. The mean gives them 2/6; capped to 0.2: 0.1 each, 0.2 each for the established.
  EXPECT_EQ(r.verification.on_probation, 2u);
  EXPECT_NEAR(r.verification.probation_share_before, 2.0 / 6.0, 1e-12);
  EXPECT_NEAR(r.verification.probation_share_after, 0.2, 1e-12);
  const std::vector<double> want = {0.2, 0.2, 0.2, 0.2, 0.1, 0.1, 0.0};
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(r.weights[i], want[i], 1e-12) << i;
  expect_near(r.aggregate, weighted(want));
}

TEST(ProbationCap, RedistributesShrinksOrLeavesAlone) {
  // Established rows hold weight: probation rows get max_share of the sum, the rest scale up.
  std::vector<double> c = {0.25, 0.25, 0.25, 0.25};
  auto [before, after] = engine::cap_probation_share(c, {1, 0, 1, 0}, 0.1);
  EXPECT_DOUBLE_EQ(before, 0.5);
  EXPECT_DOUBLE_EQ(after, 0.1);
  EXPECT_NEAR(c[0], 0.05, 1e-15);
  EXPECT_NEAR(c[1], 0.45, 1e-15);
  EXPECT_NEAR(c[0] + c[1] + c[2] + c[3], 1.0, 1e-15);
  // Krum chose the newcomer over established rows: its weight shrinks to max_share.
  c = {0.0, 1.0, 0.0};
  std::tie(before, after) = engine::cap_probation_share(c, {0, 1, 0}, 0.2);
  EXPECT_DOUBLE_EQ(before, 1.0);
  EXPECT_DOUBLE_EQ(c[1], 0.2);
  EXPECT_EQ(c[0], 0.0);
  // Everyone new (the first rounds): unchanged.
  c = {0.5, 0.5};
  std::tie(before, after) = engine::cap_probation_share(c, {1, 1}, 0.2);
  EXPECT_DOUBLE_EQ(after, 1.0);
  EXPECT_EQ(c, (std::vector<double>{0.5, 0.5}));
  // Under the cap: unchanged.
  c = {0.9, 0.1};
  std::tie(before, after) = engine::cap_probation_share(c, {0, 1}, 0.2);
  EXPECT_NEAR(before, 0.1, 1e-15);
  EXPECT_EQ(c, (std::vector<double>{0.9, 0.1}));
}

TEST_F(Verification, ForgedSubmissionsDoNotSpoilTheVictimsReputation) {
  Engine e = engine(R"({"aggregator": {"rule": "mean"}, "reputation": {"enabled": true}})");
  RoundInput in = round_of({0, 1, 2}, 1, identity::new_nonce());
  in.signatures[0] = in.signatures[1];
  const RoundResult r = e.process_round(in);
  EXPECT_EQ(r.reasons.at(0).substr(0, 13), "bad_signature");
  ASSERT_TRUE(r.scores.count("reputation"));
  EXPECT_EQ(r.scores.at("reputation")[0], e.config().reputation.initial);
}

}  // namespace
}  // namespace fedguard
