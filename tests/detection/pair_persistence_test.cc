// Honest twins and noisy Sybils in the history signal (detection/pair_persistence.h,
// docs/detection.md "Honest twins"): the pair statistic against a plain float64 brute force
// written here, its behaviour on fresh and on persistent differences, and the engine, which
// follows close pairs across rounds in its state file, excuses twins and keeps catching Sybils.
#include "detection/pair_persistence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/state_file.h"
#include "fedguard/fedguard.h"
#include "support/random_round.h"

namespace fedguard::test {
namespace {

using Rows = std::vector<std::vector<double>>;

// The statistic from its definition: explicit weights w_t = decay^(R - t) over the rounds'
// differences d_t, everything in float64 sums written out.
struct BrutePair {
  double persistence = 0, cut = 0;
  bool persistent = false;
};
BrutePair brute_pair(const Rows& d) {
  const std::size_t rounds = d.size(), k = d[0].size();
  std::vector<double> sum(k, 0.0);
  double wsq = 0, w1 = 0, e1 = 0, e2 = 0;
  for (std::size_t t = 0; t < rounds; ++t) {
    const double w = std::pow(detection::kPairDecay, static_cast<double>(rounds - 1 - t));
    double sq = 0;
    for (std::size_t q = 0; q < k; ++q) {
      sum[q] += w * d[t][q];
      sq += d[t][q] * d[t][q];
    }
    wsq += w * w * sq;
    w1 += w;
    e1 += w * sq;
    e2 += w * sq * sq;
  }
  double top = 0;
  for (double v : sum) top += v * v;
  BrutePair b;
  b.persistence = top / wsq;
  const double mean = e1 / w1, v = std::max(0.0, (e2 / w1) / (mean * mean) - 1);
  b.cut = 1 + std::max(1.0, 3.0 * std::sqrt(v));
  b.persistent = rounds >= 3 && b.persistence >= b.cut;
  return b;
}

detection::PairTrack follow(const Rows& a, const Rows& b) {
  detection::PairTrack t;
  for (std::size_t r = 0; r < a.size(); ++r)
    EXPECT_TRUE(detection::add_pair_round(t, a[r].data(), b[r].data(), a[r].size()));
  return t;
}

TEST(PairPersistence, MatchesTheFloat64BruteForce) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::uniform_int_distribution<int> length(1, 40);
  for (int trial = 0; trial < 30; ++trial) {
    const std::size_t rounds = static_cast<std::size_t>(length(rng)), k = 37;
    const double shared = trial % 3 == 0 ? 0.0 : 0.7 * std::fabs(g(rng));
    std::vector<double> offset(k);
    for (double& v : offset) v = g(rng);
    Rows a(rounds, std::vector<double>(k)), b = a, diff = a;
    for (std::size_t r = 0; r < rounds; ++r) {
      const double scale = std::exp(g(rng));  // the rounds' norms differ
      for (std::size_t q = 0; q < k; ++q) {
        b[r][q] = 3 * g(rng);
        a[r][q] = b[r][q] + scale * (shared * offset[q] + g(rng));
        diff[r][q] = a[r][q] - b[r][q];
      }
    }
    const detection::PairTrack t = follow(a, b);
    const BrutePair bf = brute_pair(diff);
    EXPECT_EQ(t.rounds, rounds);
    EXPECT_NEAR(detection::pair_persistence(t), bf.persistence, 1e-9 * bf.persistence)
        << "seed " << seed << " trial " << trial;
    EXPECT_NEAR(detection::pair_persistence_cut(t), bf.cut, 1e-9 * bf.cut)
        << "seed " << seed << " trial " << trial;
    if (std::fabs(bf.persistence - bf.cut) > 1e-6 * bf.cut) {  // not at the cut's rounding
      EXPECT_EQ(detection::pair_is_persistent(t), bf.persistent)
          << "seed " << seed << " trial " << trial;
    }
  }
  // Nothing followed yet, or identical sketches: no statistic, never persistent.
  detection::PairTrack none;
  EXPECT_TRUE(std::isnan(detection::pair_persistence(none)));
  EXPECT_FALSE(detection::pair_is_persistent(none));
  const Rows same(5, std::vector<double>(8, 1.5));
  EXPECT_FALSE(detection::pair_is_persistent(follow(same, same)));
}

// Fresh noise (isotropic in the sketch, or in only three directions) is rarely persistent at
// any round; a difference whose persistent share is a fifth of each round's energy is, within
// ten rounds.
TEST(PairPersistence, FreshNoiseIsRarelyPersistentASharedDifferenceIs) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t k = 256, rounds = 30, pairs = 100;
  Rows basis(3, std::vector<double>(k));
  for (auto& b : basis)
    for (double& v : b) v = g(rng);
  std::size_t judged = 0, isotropic = 0, low_rank = 0, late = 0;
  for (std::size_t p = 0; p < pairs; ++p) {
    detection::PairTrack iso, low, twin;
    std::vector<double> offset(k);
    for (double& v : offset) v = g(rng) * std::sqrt(0.2 / 0.8);  // share 0.2 of the energy
    std::size_t first_twin = rounds;
    for (std::size_t r = 0; r < rounds; ++r) {
      std::vector<double> zero(k, 0.0), a(k), b(k, 0.0), c(k);
      const double scale = 1 + 0.3 * g(rng);
      for (std::size_t q = 0; q < k; ++q) a[q] = scale * g(rng);
      for (const auto& dir : basis) {
        const double coef = g(rng);
        for (std::size_t q = 0; q < k; ++q) b[q] += coef * dir[q];
      }
      for (std::size_t q = 0; q < k; ++q) c[q] = offset[q] + g(rng) * std::sqrt(0.8 / 0.8);
      ASSERT_TRUE(detection::add_pair_round(iso, a.data(), zero.data(), k));
      ASSERT_TRUE(detection::add_pair_round(low, b.data(), zero.data(), k));
      ASSERT_TRUE(detection::add_pair_round(twin, c.data(), zero.data(), k));
      if (r + 1 >= detection::kPairMinRounds) {
        ++judged;
        isotropic += detection::pair_is_persistent(iso);
        low_rank += detection::pair_is_persistent(low);
      }
      if (first_twin == rounds && detection::pair_is_persistent(twin)) first_twin = r;
      late += r >= 10 && !detection::pair_is_persistent(twin);
    }
    EXPECT_LE(first_twin, 10u) << "seed " << seed << " pair " << p;
  }
  EXPECT_EQ(isotropic, 0u) << "seed " << seed << " of " << judged;
  // Three directions: the statistic is about chi-square(3) / 3, its cut about 1 + 3 sqrt(2/3)
  // (1.5% beyond it); the estimate of v from a few rounds is noisy.
  EXPECT_LE(static_cast<double>(low_rank), 0.05 * static_cast<double>(judged))
      << "seed " << seed << " of " << judged;
  EXPECT_LE(static_cast<double>(late), 0.01 * static_cast<double>(pairs * (rounds - 10)))
      << "seed " << seed;
}

// A pair that held a persistent difference and then sends fresh noise only loses its excuse:
// the weights forget.
TEST(PairPersistence, AnExcuseIsForgottenOnceThePairConverges) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t k = 256;
  std::vector<double> offset(k), zero(k, 0.0), a(k);
  for (double& v : offset) v = g(rng);
  detection::PairTrack t;
  for (int r = 0; r < 20; ++r) {
    for (std::size_t q = 0; q < k; ++q) a[q] = offset[q] + g(rng);
    ASSERT_TRUE(detection::add_pair_round(t, a.data(), zero.data(), k));
  }
  ASSERT_TRUE(detection::pair_is_persistent(t)) << detection::pair_persistence(t);
  int r = 0;
  for (; r < 200 && detection::pair_is_persistent(t); ++r) {
    for (std::size_t q = 0; q < k; ++q) a[q] = g(rng);
    ASSERT_TRUE(detection::add_pair_round(t, a.data(), zero.data(), k));
  }
  // |sum w d|^2 of the old part falls as decay^(2r) against sum w^2 |d|^2 ~ 1 / (1 - decay^2):
  // about 25 rounds for this offset (one per coordinate, noise one per coordinate).
  EXPECT_LE(r, 40) << "seed " << seed;
  EXPECT_GE(r, 5) << "seed " << seed;
}

TEST(PairPersistence, NonFiniteSumsLeaveTheTrackAlone) {
  const std::size_t k = 4;
  detection::PairTrack t;
  const std::vector<double> a{1, 2, 3, 4}, b{0, 0, 0, 0};
  ASSERT_TRUE(detection::add_pair_round(t, a.data(), b.data(), k));
  const detection::PairTrack before = t;
  const std::vector<double> huge{1e200, 0, 0, 0};  // |d|^4 overflows
  EXPECT_FALSE(detection::add_pair_round(t, huge.data(), b.data(), k));
  EXPECT_EQ(t.diff, before.diff);
  EXPECT_EQ(t.weighted_sq, before.weighted_sq);
  EXPECT_EQ(t.energy_sq, before.energy_sq);
  EXPECT_EQ(t.rounds, before.rounds);
}

// The detector's bounded list of candidates is exactly the `keep` nearest of what it was
// offered, nearest first (a full sort's first `keep`), whatever the keep and the order of the
// stream, ties included; and everything when fewer were offered.
TEST(PairPersistence, NearestPairsKeepsTheNearestOfAStream) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t m = std::uniform_int_distribution<std::size_t>(2, 90)(rng);
    std::vector<detection::ClosePair> offered;
    std::uniform_int_distribution<int> level(0, trial % 2 ? 5 : 1000);
    for (std::size_t a = 0; a < m; ++a)
      for (std::size_t b = a + 1; b < m; ++b)
        if (rng() % 3) offered.push_back({0.001 * level(rng), {a, b}});
    if (trial % 3 == 0) std::shuffle(offered.begin(), offered.end(), rng);
    const std::size_t keep = std::uniform_int_distribution<std::size_t>(0, offered.size() + 5)(rng);
    detection::NearestPairs nearest(keep);
    for (const detection::ClosePair& c : offered) nearest.offer(c);
    const std::vector<detection::ClosePair> got = nearest.take();
    std::vector<detection::ClosePair> want = offered;
    std::sort(want.begin(), want.end());
    want.resize(std::min(want.size(), std::max<std::size_t>(keep, 1)));
    ASSERT_EQ(got, want) << "seed " << seed << " trial " << trial << " keep " << keep;
  }
}

// Through the engine: 40 benign clients (a fresh shared direction each round, a persistent
// offset of their own data, SGD noise), two honest twins (the same data but for a private
// part of 15% per coordinate) and six Sybils (one update, fresh isotropic noise of 30% of its
// norm on each copy). The twins' histories come within the history signal's bound and it names
// them in the first rounds; once their pair has been followed long enough its difference is
// persistent and they are excused; the Sybils' pairs never are, and they are caught to the
// end. The state file carries the followed pairs: an engine resumed from it decides every later
// round exactly as the one that wrote it. Whether the twins come close enough to be named at all
// is the draw's (in about 0.8% of seeds they never do: measured over 1,000 seeds); such a draw
// proves nothing about excusing them, so the federation is drawn again from the same stream,
// at most three times (a replay with the seed takes the same draws). Every check of the round
// loop holds in every draw.
TEST(PairEngine, HonestTwinsAreExcusedNoisySybilsAreNot) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t benign = 40, twin0 = 40, twin1 = 41, sybil0 = 42, n = 48, d = 1500, rounds = 26,
                    resume_at = 12, max_draws = 3;
  for (std::size_t draw = 0; draw < max_draws; ++draw) {
    Rows cluster(4, std::vector<double>(d)), offset(n, std::vector<double>(d));
    for (auto& c : cluster)
      for (double& v : c) v = g(rng);
    for (std::size_t i = 0; i < benign; ++i)
      for (std::size_t j = 0; j < d; ++j) offset[i][j] = cluster[i % 4][j] + 0.6 * g(rng);
    for (std::size_t j = 0; j < d; ++j) {
      const double common = cluster[1][j] + 0.6 * g(rng);
      offset[twin0][j] = common + 0.15 * g(rng);
      offset[twin1][j] = common + 0.15 * g(rng);
    }
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < n; ++i) ids.push_back("client-" + std::to_string(i));
    const std::string config = R"({"preset": "recommended", "f": 8})";
    Engine engine(EngineConfig::from_json(config)), resumed(EngineConfig::from_json(config));
    const std::string path =
        ::testing::TempDir() + "/fedguard_pairs_" + std::to_string(seed) + ".fgs";
    std::size_t twins_named_early = 0, twins_named_late = 0, sybils_missed_late = 0;
    for (std::size_t r = 0; r < rounds; ++r) {
      std::vector<double> shared(d), attack(d);
      for (double& v : shared) v = g(rng);
      std::vector<float> data(n * d);
      for (std::size_t i = 0; i < sybil0; ++i)
        for (std::size_t j = 0; j < d; ++j)
          data[i * d + j] = static_cast<float>(shared[j] + offset[i][j] + 0.3 * g(rng));
      for (std::size_t j = 0; j < d; ++j) attack[j] = shared[j] + cluster[0][j] + 0.3 * g(rng);
      double attack_norm = 0;
      for (double v : attack) attack_norm += v * v;
      attack_norm = std::sqrt(attack_norm);
      for (std::size_t i = sybil0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j)
          data[i * d + j] =
              static_cast<float>(attack[j] + 0.3 * attack_norm / std::sqrt(double(d)) * g(rng));
      RoundInput in;
      in.updates = UpdateView(data.data(), n, d, DType::kFloat32);
      in.client_ids = ids;
      const RoundResult res = engine.process_round(in);
      if (r + 1 == resume_at) {
        engine.save_state(path);
        resumed.load_state(path);
      } else if (r + 1 > resume_at) {
        const RoundResult again = resumed.process_round(in);
        EXPECT_EQ(again.accepted, res.accepted) << "round " << r;
        ASSERT_EQ(again.rejections.size(), res.rejections.size()) << "round " << r;
        for (std::size_t q = 0; q < res.rejections.size(); ++q)
          EXPECT_EQ(again.rejections[q].values, res.rejections[q].values) << "round " << r;
      }
      for (const Rejection& rej : res.rejections) {
        if (rej.code != ReasonCode::kHistoryOutlier) continue;
        if (rej.client == twin0 || rej.client == twin1)
          (r < 14 ? twins_named_early : twins_named_late)++;
        EXPECT_TRUE(rej.client >= benign)
            << "round " << r << " seed " << seed << ": " << rej.detail;
      }
      if (r >= 12)
        for (std::size_t i = sybil0; i < n; ++i) sybils_missed_late += res.accepted[i] != 0;
    }
    if (twins_named_early == 0 && draw + 1 < max_draws) {
      std::remove(path.c_str());
      continue;
    }
    EXPECT_GT(twins_named_early, 0u) << "seed " << seed << ": the twins must be close enough for "
                                     << "the signal to fire (in one of " << max_draws << " draws)";
    EXPECT_EQ(twins_named_late, 0u) << "seed " << seed;
    EXPECT_EQ(sybils_missed_late, 0u) << "seed " << seed;
    // The state after the last round: the twins' pair is followed and persistent, no Sybil pair
    // is. (At the snapshot of round 12 the twins' pair has been followed about 10 rounds and
    // its persistence can still sit just under its cut: 1.97 against 2 in 1 of 1,000 seeds.)
    engine.save_state(path);
    const engine::EngineState state = engine::read_state(path, 256, 0x5eed);
    const auto twins = state.followed_pairs.find({ids[twin0], ids[twin1]});
    ASSERT_NE(twins, state.followed_pairs.end());
    EXPECT_TRUE(detection::pair_is_persistent(twins->second))
        << detection::pair_persistence(twins->second) << " against "
        << detection::pair_persistence_cut(twins->second) << " after " << twins->second.rounds
        << " rounds";
    std::size_t sybil_pairs = 0;
    for (const auto& [pair, track] : state.followed_pairs) {
      const bool a = pair.first >= "client-42" && pair.first <= "client-47",
                 b = pair.second >= "client-42" && pair.second <= "client-47";
      if (!(a && b)) continue;
      ++sybil_pairs;
      EXPECT_FALSE(detection::pair_is_persistent(track))
          << pair.first << " " << pair.second << " " << detection::pair_persistence(track);
    }
    EXPECT_EQ(sybil_pairs, 15u);
    std::remove(path.c_str());
    break;
  }
}

// A pair one of whose clients left is followed no longer once it has been away kPairMaxAbsence
// rounds (while it is away for fewer, its pair keeps its place and its sums).
TEST(PairEngine, PairsOfClientsThatLeftAreDropped) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t n = 34, d = 600, twin0 = 32, twin1 = 33;
  Rows offset(n, std::vector<double>(d));
  for (auto& o : offset)
    for (double& v : o) v = g(rng);
  for (std::size_t j = 0; j < d; ++j) offset[twin1][j] = offset[twin0][j] + 0.15 * g(rng);
  Engine engine(EngineConfig::from_json(R"({"preset": "recommended", "f": 6})"));
  const std::string path = ::testing::TempDir() + "/fedguard_pairs_left_" + std::to_string(seed);
  auto round = [&](std::size_t clients) {
    std::vector<float> data(clients * d);
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < clients; ++i) {
      ids.push_back("client-" + std::to_string(i));
      for (std::size_t j = 0; j < d; ++j)
        data[i * d + j] = static_cast<float>(offset[i][j] + 0.3 * g(rng));
    }
    RoundInput in;
    in.updates = UpdateView(data.data(), clients, d, DType::kFloat32);
    in.client_ids = ids;
    (void)engine.process_round(in);
    engine.save_state(path);
    return engine::read_state(path, 256, 0x5eed).followed_pairs;
  };
  for (int r = 0; r < 6; ++r) round(n);
  const std::pair<std::string, std::string> twins{"client-32", "client-33"};
  const auto followed = round(n);
  ASSERT_TRUE(followed.count(twins)) << "seed " << seed;
  const std::uint64_t rounds = followed.at(twins).rounds;
  {  // A round that fails (every row non-finite) changes no followed pair.
    std::vector<float> bad(n * d, std::nanf(""));
    RoundInput in;
    in.updates = UpdateView(bad.data(), n, d, DType::kFloat32);
    EXPECT_THROW((void)engine.process_round(in), Error);
    engine.save_state(path);
    const auto after = engine::read_state(path, 256, 0x5eed).followed_pairs;
    ASSERT_EQ(after.size(), followed.size());
    for (const auto& [ids, t] : followed) {
      ASSERT_TRUE(after.count(ids));
      EXPECT_EQ(after.at(ids).diff, t.diff);
      EXPECT_EQ(after.at(ids).weighted_sq, t.weighted_sq);
      EXPECT_EQ(after.at(ids).rounds, t.rounds);
    }
  }
  for (std::uint64_t r = 1; r < detection::kPairMaxAbsence; ++r) {
    const auto now = round(n - 1);  // client-33 away
    ASSERT_TRUE(now.count(twins)) << "after " << r << " rounds away";
    EXPECT_EQ(now.at(twins).rounds, rounds);
  }
  EXPECT_FALSE(round(n - 1).count(twins));
  std::remove(path.c_str());
}

// Malformed followed pairs in a state file are errors naming the file and offset.
TEST(PairEngine, StateFileRefusesMalformedFollowedPairs) {
  const std::size_t k = 4;
  engine::EngineState state;
  state.clients["a"].rounds_seen = 3;
  state.clients["b"].rounds_seen = 3;
  detection::PairTrack t;
  const std::vector<double> x{1, 2, 3, 4}, y{0, 1, 0, 1};
  ASSERT_TRUE(detection::add_pair_round(t, x.data(), y.data(), k));
  state.followed_pairs[{"a", "b"}] = t;
  const std::string path = ::testing::TempDir() + "/fedguard_pairs_file.fgs";
  engine::write_state(path, state, k, 7);
  const engine::EngineState back = engine::read_state(path, k, 7);
  ASSERT_EQ(back.followed_pairs.size(), 1u);
  const detection::PairTrack& u = back.followed_pairs.at({"a", "b"});
  EXPECT_EQ(u.diff, t.diff);
  EXPECT_EQ(u.weighted_sq, t.weighted_sq);
  EXPECT_EQ(u.energy_sq, t.energy_sq);
  EXPECT_EQ(u.rounds, t.rounds);
  // Rewrite the header's pair entry (the binary tail kept), read, expect the error.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::uint64_t len = 0;
  std::memcpy(&len, bytes.data() + 8, 8);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(16, len));
  const std::string tail = bytes.substr(16 + len);
  auto with = [&](const nlohmann::json& h, const std::string& rest) {
    const std::string text = h.dump();
    const std::uint64_t n = text.size();
    std::string out = bytes.substr(0, 8);
    out.append(reinterpret_cast<const char*>(&n), 8);
    return out + text + rest;
  };
  auto error_of = [&](const std::string& file) {
    try {
      (void)engine::parse_state(file, "pairs.fgs", k, 7);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, nlohmann::json>>{{"a", "c"},  // not smaller than b
                                                           {"rounds", -1},
                                                           {"sums", {1, 2, 3, 4}},
                                                           {"sums", {1, 2, -3, 4, 5}},
                                                           {"extra", 1}}) {
    nlohmann::json h = header;
    h["followed_pairs"][0][key] = value;
    const std::string message = error_of(with(h, tail));
    EXPECT_NE(message.find("pairs.fgs: offset 16: a 'followed_pairs' entry"), std::string::npos)
        << key << ": " << message;
  }
  nlohmann::json twice = header;
  twice["followed_pairs"].push_back(header["followed_pairs"][0]);
  EXPECT_NE(error_of(with(twice, tail + tail.substr(tail.size() - k * 8))).find("appears twice"),
            std::string::npos);
  // The difference's bytes missing, or not finite.
  EXPECT_NE(error_of(with(header, tail.substr(0, tail.size() - 8))).find("a followed pair's"),
            std::string::npos);
  std::string nan_tail = tail;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::memcpy(nan_tail.data() + nan_tail.size() - 8, &nan, 8);
  EXPECT_NE(error_of(with(header, nan_tail)).find("every stored value must be finite"),
            std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace fedguard::test
