// The verdicts of a round: every reason code, the order rules apply in, tampering anywhere in
// an update, and that a forged copy never blocks a client's genuine update.
#include "identity/verify.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace fedguard::identity {
namespace {

struct Client {
  std::string id;
  KeyPair keys;
  std::vector<float> update;
};

class VerifyRound : public ::testing::Test {
 protected:
  void SetUp() override {
    registry.federation = "fed";
    std::mt19937 rng(7);
    std::normal_distribution<float> g;
    for (int i = 0; i < 6; ++i) {
      Client c{"c" + std::to_string(i), generate_key_pair(), std::vector<float>(257)};
      for (float& v : c.update) v = g(rng);
      registry.add({c.id, c.keys.public_key, ClientStatus::kActive, 0});
      clients.push_back(std::move(c));
    }
    context.round = 9;
    context.nonce = new_nonce();
    context.history = [this](const std::string& id) -> const ClientRecord* {
      const auto it = records.find(id);
      return it == records.end() ? nullptr : &it->second;
    };
  }
  Submission signed_by(const Client& c, std::uint64_t round, const Nonce& nonce) const {
    const Signature s = sign_update(c.keys.private_key, "fed", c.id, round, nonce, "float32",
                                    c.update.size(), c.update.data());
    return {c.id, c.update.data(), c.update.size(), "float32", base64_encode(s.data(), s.size())};
  }
  Submission honest(const Client& c) const { return signed_by(c, context.round, context.nonce); }
  std::vector<Verdict> verdicts(const std::vector<Submission>& s) {
    last = verify_round(registry, context, s, 2);
    std::vector<Verdict> v;
    for (const auto& c : last.clients) v.push_back(c.verdict);
    return v;
  }

  Registry registry;
  std::vector<Client> clients;
  RoundContext context;
  std::map<std::string, ClientRecord> records;
  RoundVerdicts last;
};

TEST_F(VerifyRound, HonestClientsPass) {
  std::vector<Submission> s;
  for (const auto& c : clients) s.push_back(honest(c));
  EXPECT_EQ(verdicts(s), std::vector<Verdict>(6, Verdict::kOk));
  EXPECT_EQ(last.new_clients, 6u);
  EXPECT_TRUE(last.clients[0].first_time);
  EXPECT_FALSE(last.clients[0].probation);  // no probation configured
  EXPECT_FALSE(last.burst);
}

TEST_F(VerifyRound, EveryReasonCode) {
  registry.add({"pending", generate_key_pair().public_key, ClientStatus::kPending, 0});
  registry.revoke("c1");
  Submission unknown = honest(clients[0]);
  unknown.client_id = "stranger";
  Submission missing = honest(clients[2]);
  missing.signature.clear();
  Submission pending = honest(clients[3]);
  pending.client_id = "pending";
  std::vector<float> other = clients[4].update;
  other[0] += 1;
  Submission forged = honest(clients[4]);
  forged.data = other.data();
  const Nonce old_nonce = new_nonce();
  context.previous = {{8, old_nonce}};
  const Submission stale = signed_by(clients[5], 8, old_nonce);
  EXPECT_EQ(verdicts({unknown, honest(clients[1]), missing, pending, forged, stale}),
            (std::vector<Verdict>{Verdict::kUnknownClient, Verdict::kRevokedClient,
                                  Verdict::kMissingSignature, Verdict::kRevokedClient,
                                  Verdict::kBadSignature, Verdict::kStaleRound}));
  EXPECT_NE(last.clients[3].detail.find("pending"), std::string::npos);
  EXPECT_NE(last.clients[5].detail.find("round 8"), std::string::npos);
  EXPECT_STREQ(verdict_code(Verdict::kStaleRound), "stale_round");
}

TEST_F(VerifyRound, StaleNeedsAValidOldSignature) {
  // Signed for a round the engine never processed: nothing to tell it from a forgery.
  context.previous = {{8, new_nonce()}};
  EXPECT_EQ(
      verdicts({signed_by(clients[0], 7, new_nonce()), signed_by(clients[1], 9, new_nonce())}),
      (std::vector<Verdict>{Verdict::kBadSignature, Verdict::kBadSignature}));
}

TEST_F(VerifyRound, MalformedSignatures) {
  Submission a = honest(clients[0]), b = honest(clients[1]), c = honest(clients[2]),
             d = honest(clients[3]);
  a.signature = "not base64!";
  b.signature = base64_encode("0123456789", 10);
  c.signature.pop_back();  // breaks the padding
  d.signature = base64_encode(std::string(64, '\0').data(), 64);
  EXPECT_EQ(verdicts({a, b, c, d}), std::vector<Verdict>(4, Verdict::kBadSignature));
  EXPECT_NE(last.clients[1].detail.find("10 bytes"), std::string::npos);
}

TEST_F(VerifyRound, OneFlippedBitAnywhereIsBadSignature) {
  const Client& c = clients[0];
  const Submission good = honest(c);
  const std::size_t bytes = c.update.size() * 4;
  for (std::size_t byte : {std::size_t{0}, std::size_t{1}, bytes / 2, bytes - 5, bytes - 1}) {
    for (int bit : {0, 7}) {
      std::vector<float> copy = c.update;
      reinterpret_cast<std::uint8_t*>(copy.data())[byte] ^= static_cast<std::uint8_t>(1u << bit);
      Submission s = good;
      s.data = copy.data();
      EXPECT_EQ(verdicts({s}), std::vector<Verdict>{Verdict::kBadSignature})
          << "byte " << byte << " bit " << bit;
    }
  }
  // ... and in the other fields the message binds: d, dtype, client, round, nonce.
  Submission s = good;
  s.d -= 1;
  EXPECT_EQ(verdicts({s}), std::vector<Verdict>{Verdict::kBadSignature});
  s = good;
  s.dtype = "float16";
  s.d *= 2;
  EXPECT_EQ(verdicts({s}), std::vector<Verdict>{Verdict::kBadSignature});
  s = good;
  s.client_id = "c1";  // c0's signature under c1's id
  EXPECT_EQ(verdicts({s}), std::vector<Verdict>{Verdict::kBadSignature});
  context.nonce[0] ^= 1;
  EXPECT_EQ(verdicts({good}), std::vector<Verdict>{Verdict::kBadSignature});
  context.nonce[0] ^= 1;
  context.round += 1;
  EXPECT_EQ(verdicts({good}), std::vector<Verdict>{Verdict::kBadSignature});
  registry.federation = "other";
  context.round -= 1;
  EXPECT_EQ(verdicts({good}), std::vector<Verdict>{Verdict::kBadSignature});
}

TEST_F(VerifyRound, ReplaysAndDuplicates) {
  records["c0"] = {3, 9};  // already has a verified update for this round
  records["c1"] = {3, 12};
  records["c2"] = {3, 8};
  Submission forged = honest(clients[3]);
  forged.signature = honest(clients[4]).signature;
  EXPECT_EQ(verdicts({honest(clients[0]), honest(clients[1]), honest(clients[2]),
                      honest(clients[2]), forged, honest(clients[3]), honest(clients[3])}),
            (std::vector<Verdict>{Verdict::kReplayed, Verdict::kReplayed, Verdict::kOk,
                                  Verdict::kReplayed, Verdict::kBadSignature, Verdict::kOk,
                                  Verdict::kReplayed}));
  EXPECT_FALSE(last.clients[2].first_time);
  EXPECT_TRUE(last.clients[5].first_time);
}

TEST_F(VerifyRound, EnrollmentCapAndProbation) {
  registry.max_new_per_round = 2;
  registry.probation = {3, 0.1};
  records["c0"] = {5, 8};  // first seen round 5: 9 - 5 >= 3, established
  records["c1"] = {7, 8};  // first seen round 7: on probation
  std::vector<Submission> s;
  for (const auto& c : clients) s.push_back(honest(c));
  EXPECT_EQ(verdicts(s),
            (std::vector<Verdict>{Verdict::kOk, Verdict::kOk, Verdict::kOk, Verdict::kOk,
                                  Verdict::kEnrollmentCap, Verdict::kEnrollmentCap}));
  EXPECT_EQ(last.new_clients, 4u);
  EXPECT_TRUE(last.burst);
  EXPECT_FALSE(last.clients[0].probation);
  EXPECT_TRUE(last.clients[1].probation);
  EXPECT_TRUE(last.clients[2].probation);
  EXPECT_TRUE(last.clients[2].first_time);
}

TEST_F(VerifyRound, ParallelMatchesSerial) {
  std::vector<Submission> s;
  for (int rep = 0; rep < 5; ++rep)
    for (const auto& c : clients) {
      Submission x = honest(c);
      if ((rep + c.id.back()) % 3 == 0) x.signature = honest(clients[(rep + 1) % 6]).signature;
      s.push_back(x);
    }
  const RoundVerdicts a = verify_round(registry, context, s, 1);
  const RoundVerdicts b = verify_round(registry, context, s, 2);
  for (std::size_t i = 0; i < s.size(); ++i)
    EXPECT_EQ(a.clients[i].verdict, b.clients[i].verdict) << i;
}

}  // namespace
}  // namespace fedguard::identity
