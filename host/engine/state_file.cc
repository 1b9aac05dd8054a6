#include "engine/state_file.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <type_traits>

#include "common/json_parse.h"
#include "common/regular_file.h"
#include "detection/response.h"
#include "fedguard/error.h"
#include "fedguard/identity.h"

namespace fedguard::engine {
namespace {

constexpr char kMagic[8] = {'F', 'G', 'S', 'T', 'A', 'T', 'E', '1'};
constexpr std::uint64_t kVersion = 4;
// The sketch the histories live in (header key "sketch", version 4 on). Files without it were
// written with the dense +-1/sqrt(q) sketch (issue 19 replaced it): their sketches are in another
// space and cannot be compared with this engine's.
constexpr char kSketchKind[] = "count";
// A header larger than this is not one fedguard wrote (a million clients need ~200 MB).
constexpr std::uint64_t kMaxHeader = 1ull << 30;

void write_doubles(std::ofstream& f, const std::vector<double>& v) {
  f.write(reinterpret_cast<const char*>(v.data()),
          static_cast<std::streamsize>(v.size() * sizeof(double)));
}

}  // namespace

void write_state(const std::string& path, const EngineState& state, std::size_t sketch_dim,
                 std::uint64_t sketch_seed) {
  nlohmann::json header;
  header["version"] = kVersion;
  header["sketch"] = kSketchKind;
  header["sketch_dim"] = sketch_dim;
  header["sketch_seed"] = sketch_seed;
  header["model_dim"] = state.model_dim;
  header["rounds"] = state.rounds;
  header["previous_aggregate"] = state.previous_aggregate.size();
  header["aggregate_sketches"] = state.aggregate_sketches.size();
  for (const auto& s : state.aggregate_sketches)
    FEDGUARD_EXPECTS(s.size() == sketch_dim,
                     "an aggregate sketch has " << s.size() << " values, expected " << sketch_dim);
  if (!state.response_window.empty()) {  // optional: the response signal's last rounds
    nlohmann::json window = nlohmann::json::array();
    for (const ResponseRound& r : state.response_window) {
      FEDGUARD_EXPECTS(
          r.accepted_sum.size() == sketch_dim,
          "a response round has " << r.accepted_sum.size() << " values, expected " << sketch_dim);
      window.push_back({{"accepted", r.accepted}, {"sum", r.accepted_sum}});
    }
    header["response_window"] = std::move(window);
  }
  header["clients"] = nlohmann::json::array();
  for (const auto& [id, h] : state.clients) {
    for (const auto* v : {&h.sketch_sum, &h.last_sketch})
      FEDGUARD_EXPECTS(v->empty() || v->size() == sketch_dim,
                       "client '" << id << "' has a sketch of " << v->size() << " values, expected "
                                  << sketch_dim);
    nlohmann::json c = {{"id", id},
                        {"rounds_seen", h.rounds_seen},
                        {"last_round", h.last_round},
                        {"sketch", !h.sketch_sum.empty()},
                        {"last_sketch", !h.last_sketch.empty()},
                        {"suspicion", h.suspicion}};
    c["reputation"] = h.has_reputation ? nlohmann::json(h.reputation) : nlohmann::json(nullptr);
    c["verified"] = h.verified
                        ? nlohmann::json::array({h.first_verified_round, h.last_verified_round})
                        : nlohmann::json(nullptr);
    nlohmann::json baseline = nlohmann::json::object();
    for (const auto& [name, b] : {std::pair{"norm", &h.norm_baseline},
                                  {"sign", &h.sign_baseline},
                                  {"accepted", &h.accepted_share}})
      if (b->rounds > 0) baseline[name] = nlohmann::json::array({b->sum, b->weight, b->rounds});
    if (!baseline.empty()) c["baseline"] = std::move(baseline);
    if (h.response_rounds > 0)
      c["response"] = nlohmann::json::array({h.response_sum, h.response_rounds});
    if (h.last_accepted) c["last_accepted"] = true;
    header["clients"].push_back(std::move(c));
  }
  header["verification"] =
      state.has_verified_round
          ? nlohmann::json{{"round", state.verified_round},
                           {"nonce", identity::hex_encode(state.verified_nonce.data(),
                                                          state.verified_nonce.size())}}
          : nlohmann::json(nullptr);
  header["monitor"] = state.monitor.to_json();  // the monitor's section, written and read whole
  if (!state.followed_pairs.empty()) {
    nlohmann::json pairs = nlohmann::json::array();
    for (const auto& [ids, t] : state.followed_pairs) {
      FEDGUARD_EXPECTS(t.diff.size() == sketch_dim,
                       "followed pair '" << ids.first << "', '" << ids.second << "' has "
                                         << t.diff.size() << " values, expected " << sketch_dim);
      pairs.push_back({{"a", ids.first},
                       {"b", ids.second},
                       {"rounds", t.rounds},
                       {"sums", {t.weighted_sq, t.weight, t.weight_sq, t.energy, t.energy_sq}}});
    }
    header["followed_pairs"] = std::move(pairs);
  }
  const std::string text = header.dump();
  expect_replaceable(path);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) FEDGUARD_THROW(kIo, tmp << ": cannot open for writing");
    const std::uint64_t len = text.size();
    f.write(kMagic, sizeof kMagic);
    f.write(reinterpret_cast<const char*>(&len), sizeof len);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.write(reinterpret_cast<const char*>(state.previous_aggregate.data()),
            static_cast<std::streamsize>(state.previous_aggregate.size() * sizeof(float)));
    for (const auto& s : state.aggregate_sketches) write_doubles(f, s);
    for (const auto& [id, h] : state.clients) {
      write_doubles(f, h.sketch_sum);
      write_doubles(f, h.last_sketch);
    }
    for (const auto& [ids, t] : state.followed_pairs) write_doubles(f, t.diff);
    f.flush();
    if (!f) FEDGUARD_THROW(kIo, tmp << ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    FEDGUARD_THROW(kIo, path << ": cannot replace with the new state");
  }
}

namespace {

// The 16-byte prefix: magic and header length (checked against the file's size).
std::uint64_t header_length(const char* prefix, std::uint64_t size, const std::string& path) {
  if (size < 16 || std::memcmp(prefix, kMagic, sizeof kMagic) != 0)
    FEDGUARD_THROW(kIo, path << ": offset 0: not a fedguard state file (magic FGSTATE1 expected)");
  std::uint64_t len;
  std::memcpy(&len, prefix + 8, sizeof len);
  if (len > size - 16)
    FEDGUARD_THROW(kIo, path << ": offset 8: header length " << len
                             << " runs past the end of the file (size " << size << ")");
  if (len > kMaxHeader)
    FEDGUARD_THROW(kIo, path << ": offset 8: header length " << len << " exceeds the limit of "
                             << kMaxHeader << " bytes");
  return len;
}

// Whether a header before version 4 describes any stored sketch: aggregate sketches, or a
// client with a cumulative or last sketch (version 1: every client has a cumulative one).
// Malformed entries are left to the checks that follow.
bool holds_dense_sketches(const nlohmann::json& h, std::uint64_t version) {
  if (version >= 2 && h.contains("aggregate_sketches") && h.at("aggregate_sketches").is_number() &&
      h.at("aggregate_sketches") != 0)
    return true;
  if (!h.contains("clients") || !h.at("clients").is_array()) return false;
  for (const auto& c : h.at("clients")) {
    if (version < 2) return true;
    if (!c.is_object()) continue;
    for (const char* key : {"sketch", "last_sketch"})
      if (c.contains(key) && c.at(key).is_boolean() && c.at(key).get<bool>()) return true;
  }
  return false;
}

// A client's optional "baseline": {"norm": [sum, weight, rounds], "sign": [...], "accepted":
// [...]}. What the engine writes: a finite sum, a weight in (0, 1] (a bias-corrected EWMA's),
// rounds >= 1, and a mean sum / weight within 1e6 in size (z's of log-norms and sign balances
// with floored scales stay in the thousands), so that no loaded value reaches a cut as Inf.
void read_baselines(const nlohmann::json& c, const std::string& path, ClientHistory& ch) {
  const nlohmann::json& b = c.at("baseline");
  if (!b.is_object())
    FEDGUARD_THROW(kIo,
                   path << ": offset 16: client field 'baseline' is not an object in " << c.dump());
  for (const auto& item : b.items()) {
    SignalBaseline* dest = item.key() == "norm"       ? &ch.norm_baseline
                           : item.key() == "sign"     ? &ch.sign_baseline
                           : item.key() == "accepted" ? &ch.accepted_share
                                                      : nullptr;
    if (!dest)
      FEDGUARD_THROW(kIo, path << ": offset 16: unknown key '" << item.key()
                               << "' in client 'baseline' (known: norm, sign, accepted) in "
                               << c.dump());
    const nlohmann::json& v = item.value();
    const bool shaped = v.is_array() && v.size() == 3 && v[0].is_number() && v[1].is_number() &&
                        v[2].is_number_unsigned();
    const double sum = shaped ? v[0].get<double>() : 0, weight = shaped ? v[1].get<double>() : 0;
    if (!shaped || !std::isfinite(sum) || !(weight > 0 && weight <= 1) ||
        v[2].get<std::uint64_t>() == 0 || !(std::fabs(sum / weight) <= 1e6))
      FEDGUARD_THROW(kIo, path << ": offset 16: client 'baseline." << item.key()
                               << "' is not [finite sum, weight in (0, 1], rounds >= 1] in "
                               << c.dump());
    *dest = {sum, weight, v[2].get<std::uint64_t>()};
  }
}

}  // namespace

EngineState read_state(const std::string& path, std::size_t sketch_dim, std::uint64_t sketch_seed) {
  // A regular file only (no FIFO, no /dev/zero), and its magic checked before the rest is read.
  const RegularFile file(path);
  std::string bytes(16, '\0');
  if (file.size() >= 16) file.read_at(0, bytes.data(), 16);
  (void)header_length(bytes.data(), file.size(), path);
  bytes.resize(static_cast<std::size_t>(file.size()));
  file.read_at(16, bytes.data() + 16, bytes.size() - 16);
  return parse_state(bytes, path, sketch_dim, sketch_seed);
}

EngineState parse_state(const std::string& bytes, const std::string& path, std::size_t sketch_dim,
                        std::uint64_t sketch_seed) {
  const std::uint64_t size = bytes.size();
  const std::uint64_t len = header_length(bytes.data(), size, path);
  nlohmann::json h;
  try {
    h = parse_json(std::string_view(bytes).substr(16, len));
  } catch (const JsonError& e) {  // syntax, nesting, duplicate keys, NUL bytes, huge numbers
    FEDGUARD_THROW(kIo, path << ": offset " << 16 + e.offset()
                             << ": header is not valid JSON: " << e.reason());
  }
  if (!h.is_object()) FEDGUARD_THROW(kIo, path << ": offset 16: header is not a JSON object");
  auto number_in = [&](const nlohmann::json& obj, const char* key) -> std::uint64_t {
    if (!obj.contains(key) || !obj.at(key).is_number_unsigned())
      FEDGUARD_THROW(
          kIo, path << ": offset 16: field '" << key << "' missing or not a non-negative integer");
    return obj.at(key).get<std::uint64_t>();
  };
  auto flag_in = [&](const nlohmann::json& obj, const char* key) -> bool {
    if (!obj.contains(key) || !obj.at(key).is_boolean())
      FEDGUARD_THROW(kIo, path << ": offset 16: field '" << key << "' missing or not true/false in "
                               << obj.dump());
    return obj.at(key).get<bool>();
  };
  const std::uint64_t version = number_in(h, "version");
  if (version < 1 || version > kVersion)
    FEDGUARD_THROW(kIo, path << ": offset 16: state format version " << version
                             << ", this build reads 1 to " << kVersion);
  // The sketch: named from version 4 on; an older file's sketches are the dense sketch's.
  if (version >= 4 || h.contains("sketch")) {
    if (!h.contains("sketch") || !h.at("sketch").is_string())
      FEDGUARD_THROW(kIo, path << ": offset 16: field 'sketch' missing or not a string");
    if (h.at("sketch").get<std::string>() != kSketchKind)
      FEDGUARD_THROW(kInvalidInput, path << ": holds histories of the sketch '"
                                         << h.at("sketch").get<std::string>()
                                         << "'; this engine uses the '" << kSketchKind
                                         << "' sketch (start a new state file)");
  } else if (holds_dense_sketches(h, version)) {
    FEDGUARD_THROW(kInvalidInput,
                   path << ": holds sketched histories of the dense random sketch (state format "
                        << "version " << version << "); the sketch changed to a count sketch and "
                        << "they cannot be compared with new ones: start a new state file");
  }
  if (number_in(h, "sketch_dim") != sketch_dim || number_in(h, "sketch_seed") != sketch_seed)
    FEDGUARD_THROW(kInvalidInput, path << ": written with sketch_dim " << number_in(h, "sketch_dim")
                                       << " and sketch_seed " << number_in(h, "sketch_seed")
                                       << "; this engine uses sketch_dim " << sketch_dim
                                       << " and sketch_seed " << sketch_seed);
  EngineState state;
  state.rounds = number_in(h, "rounds");
  // A count of rounds this engine ran: 2^64 - 1 loaded and wrapped to 0 at the next round
  // (hostile probe). 2^53 rounds is beyond any federation and exact in a double.
  if (state.rounds > (std::uint64_t{1} << 53))
    FEDGUARD_THROW(kIo,
                   path << ": offset 16: field 'rounds' = " << state.rounds << " is beyond 2^53");
  const std::uint64_t agg = number_in(h, "previous_aggregate");
  state.model_dim = version >= 3 ? number_in(h, "model_dim") : agg;
  if (agg != 0 && agg != state.model_dim)
    FEDGUARD_THROW(kIo, path << ": offset 16: previous aggregate of " << agg
                             << " values for model_dim " << state.model_dim);
  const std::uint64_t agg_sketches = version >= 2 ? number_in(h, "aggregate_sketches") : 0;
  if (h.contains("response_window")) {  // [{"accepted": m, "sum": [sketch_dim finite]}, ...]
    const nlohmann::json& window = h.at("response_window");
    if (!window.is_array() || window.size() > detection::kResponseMaxGap)
      FEDGUARD_THROW(kIo, path << ": offset 16: field 'response_window' is not a list of at most "
                               << detection::kResponseMaxGap << " rounds");
    for (const nlohmann::json& r : window) {
      const bool shaped = r.is_object() && r.size() == 2 && r.contains("accepted") &&
                          r.at("accepted").is_number_unsigned() && r.contains("sum") &&
                          r.at("sum").is_array() && r.at("sum").size() == sketch_dim;
      ResponseRound round;
      if (shaped) {
        round.accepted = r.at("accepted").get<std::uint64_t>();
        for (const nlohmann::json& v : r.at("sum")) {
          if (!v.is_number() || !std::isfinite(v.get<double>())) {
            round.accepted_sum.clear();
            break;
          }
          round.accepted_sum.push_back(v.get<double>());
        }
      }
      if (!shaped || round.accepted_sum.size() != sketch_dim)
        FEDGUARD_THROW(kIo, path << ": offset 16: a 'response_window' round is not {\"accepted\": "
                                    "count, \"sum\": ["
                                 << sketch_dim << " finite numbers]}");
      state.response_window.push_back(std::move(round));
    }
  }
  if (!h.contains("clients") || !h.at("clients").is_array())
    FEDGUARD_THROW(kIo, path << ": offset 16: header field 'clients' missing or not a list");
  const auto& clients = h.at("clients");
  // Client verification's fields are optional (absent: no verified round, no verified
  // clients), so they do not depend on the format version other additions bump.
  if (h.contains("verification")) {
    if (!(h.at("verification").is_null() || h.at("verification").is_object()))
      FEDGUARD_THROW(kIo,
                     path << ": offset 16: header field 'verification' is not an object or null");
    if (h.at("verification").is_object()) {
      const auto& v = h.at("verification");
      state.has_verified_round = true;
      state.verified_round = number_in(v, "round");
      if (!v.contains("nonce") || !v.at("nonce").is_string())
        FEDGUARD_THROW(kIo,
                       path << ": offset 16: verification field 'nonce' missing or not a string");
      try {
        state.verified_nonce = identity::parse_nonce_hex(v.at("nonce").get<std::string>());
      } catch (const Error& e) {
        FEDGUARD_THROW(kIo, path << ": offset 16: verification " << e.what());
      }
    }
  }
  if (h.contains("monitor"))
    state.monitor = monitor::MonitorState::from_json(h.at("monitor"), path + ": offset 16");

  // Sizes first (in 128-bit-safe steps: every count is checked against the bytes left before
  // it is multiplied), then the copies.
  std::uint64_t offset = 16 + len;
  const std::uint64_t per_sketch = sketch_dim * sizeof(double);
  auto take = [&](std::uint64_t count, std::uint64_t unit, const char* what) -> std::uint64_t {
    const std::uint64_t left = size - offset;
    if (unit > 0 && count > left / unit)
      FEDGUARD_THROW(kIo, path << ": offset " << offset << ": " << what << " needs " << count
                               << " x " << unit << " bytes, " << left << " left in the file");
    const std::uint64_t at = offset;
    offset += count * unit;
    return at;
  };
  // A NaN or Inf loaded here would spread into every later round's scores: a file error.
  auto check_finite = [&](const auto& v, std::uint64_t at, const char* what) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    for (std::size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i]))
        FEDGUARD_THROW(kIo, path << ": offset " << at + i * sizeof(T) << ": " << what << " holds "
                                 << v[i] << " (every stored value must be finite)");
  };
  const std::uint64_t agg_at = take(agg, sizeof(float), "the previous aggregate");
  state.previous_aggregate.resize(agg);
  // (memcpy with a null pointer is undefined even for 0 bytes: UBSan, issue 17.)
  if (agg > 0)
    std::memcpy(state.previous_aggregate.data(), bytes.data() + agg_at, agg * sizeof(float));
  check_finite(state.previous_aggregate, agg_at, "the previous aggregate");
  for (std::uint64_t s = 0; s < agg_sketches; ++s) {
    const std::uint64_t at = take(1, per_sketch, "an aggregate sketch");
    std::vector<double> v(sketch_dim);
    std::memcpy(v.data(), bytes.data() + at, per_sketch);
    check_finite(v, at, "an aggregate sketch");
    state.aggregate_sketches.push_back(std::move(v));
  }
  for (const auto& c : clients) {
    if (!c.is_object() || !c.contains("id") || !c.at("id").is_string())
      FEDGUARD_THROW(kIo, path << ": offset 16: malformed client entry " << c.dump());
    ClientHistory ch;
    ch.rounds_seen = number_in(c, "rounds_seen");
    ch.last_round = number_in(c, "last_round");
    const bool has_sum = version >= 2 ? flag_in(c, "sketch") : true;
    const bool has_last = version >= 2 ? flag_in(c, "last_sketch") : false;
    if (version >= 2) {
      if (!c.contains("suspicion") || !c.at("suspicion").is_array())
        FEDGUARD_THROW(
            kIo,
            path << ": offset 16: client field 'suspicion' missing or not a list in " << c.dump());
      // FLDetector's window holds at most 32 values (its "window" <= 32, docs/config.md): a
      // longer list is not one this engine wrote (a 10^6-value list loaded; hostile probe).
      if (c.at("suspicion").size() > 32)
        FEDGUARD_THROW(kIo, path << ": offset 16: client 'suspicion' holds "
                                 << c.at("suspicion").size()
                                 << " values, more than FLDetector's window of at most 32");
      for (const auto& x : c.at("suspicion")) {
        if (!x.is_number() || !std::isfinite(x.get<double>()))
          FEDGUARD_THROW(
              kIo, path << ": offset 16: client 'suspicion' holds a non-number in " << c.dump());
        ch.suspicion.push_back(x.get<double>());
      }
      if (!c.contains("reputation") ||
          !(c.at("reputation").is_null() || c.at("reputation").is_number()))
        FEDGUARD_THROW(
            kIo, path << ": offset 16: client field 'reputation' missing or not a number/null in "
                      << c.dump());
      if (c.at("reputation").is_number()) {
        ch.reputation = c.at("reputation").get<double>();
        ch.has_reputation = true;
        if (!(ch.reputation >= 0 && ch.reputation <= 1))
          FEDGUARD_THROW(
              kIo, path << ": offset 16: client reputation " << ch.reputation << " outside [0, 1]");
      }
    }
    if (c.contains("verified")) {
      if (!(c.at("verified").is_null() || c.at("verified").is_array()))
        FEDGUARD_THROW(kIo, path << ": offset 16: client field 'verified' is not a list or null in "
                                 << c.dump());
      const auto& v = c.at("verified");
      if (v.is_array()) {
        if (v.size() != 2 || !v[0].is_number_unsigned() || !v[1].is_number_unsigned() ||
            v[0].get<std::uint64_t>() > v[1].get<std::uint64_t>())
          FEDGUARD_THROW(
              kIo, path << ": offset 16: client 'verified' is not [first round, last round] in "
                        << c.dump());
        ch.verified = true;
        ch.first_verified_round = v[0].get<std::uint64_t>();
        ch.last_verified_round = v[1].get<std::uint64_t>();
      }
    }
    if (c.contains("baseline")) read_baselines(c, path, ch);
    if (c.contains("response")) {  // [sum of response z's, rounds >= 1], each z within +-50
      const nlohmann::json& r = c.at("response");
      const bool shaped = r.is_array() && r.size() == 2 && r[0].is_number() &&
                          r[1].is_number_unsigned() && r[1].get<std::uint64_t>() > 0;
      const double sum = shaped ? r[0].get<double>() : 0;
      if (!shaped || !std::isfinite(sum) ||
          !(std::fabs(sum) <=
            detection::kResponseZLimit * static_cast<double>(r[1].get<std::uint64_t>())))
        FEDGUARD_THROW(kIo, path << ": offset 16: client 'response' is not [finite sum, rounds "
                                    ">= 1] with |sum| <= "
                                 << detection::kResponseZLimit << " x rounds in " << c.dump());
      ch.response_sum = sum;
      ch.response_rounds = r[1].get<std::uint64_t>();
    }
    if (c.contains("last_accepted")) ch.last_accepted = flag_in(c, "last_accepted");
    for (auto [want, dest] :
         {std::pair{has_sum, &ch.sketch_sum}, std::pair{has_last, &ch.last_sketch}}) {
      if (!want) continue;
      const std::uint64_t at = take(1, per_sketch, "a client sketch");
      dest->resize(sketch_dim);
      std::memcpy(dest->data(), bytes.data() + at, per_sketch);
      check_finite(*dest, at, "a client sketch");
    }
    if (!state.clients.emplace(c.at("id").get<std::string>(), std::move(ch)).second)
      FEDGUARD_THROW(kIo, path << ": offset 16: client id '" << c.at("id").get<std::string>()
                               << "' appears twice");
  }
  if (h.contains("followed_pairs")) {
    const nlohmann::json& pairs = h.at("followed_pairs");
    if (!pairs.is_array() || pairs.size() > detection::kMaxFollowedPairs)
      FEDGUARD_THROW(kIo, path << ": offset 16: field 'followed_pairs' is not a list of at most "
                               << detection::kMaxFollowedPairs << " pairs");
    for (const nlohmann::json& p : pairs) {
      bool shaped = p.is_object() && p.size() == 4 && p.contains("a") && p.at("a").is_string() &&
                    p.contains("b") && p.at("b").is_string() && p.contains("rounds") &&
                    p.at("rounds").is_number_unsigned() && p.contains("sums") &&
                    p.at("sums").is_array() && p.at("sums").size() == 5;
      std::array<double, 5> sums{};
      for (std::size_t i = 0; shaped && i < 5; ++i) {
        const nlohmann::json& v = p.at("sums")[i];
        shaped = v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0;
        if (shaped) sums[i] = v.get<double>();
      }
      if (!shaped || !(p.at("a").get<std::string>() < p.at("b").get<std::string>()))
        FEDGUARD_THROW(kIo, path << ": offset 16: a 'followed_pairs' entry is not {\"a\": id, "
                                    "\"b\": a larger id, \"rounds\": count, \"sums\": [5 "
                                    "finite numbers >= 0]} in "
                                 << p.dump());
      detection::PairTrack t;
      t.rounds = p.at("rounds").get<std::uint64_t>();
      t.weighted_sq = sums[0];
      t.weight = sums[1];
      t.weight_sq = sums[2];
      t.energy = sums[3];
      t.energy_sq = sums[4];
      const std::uint64_t at = take(1, per_sketch, "a followed pair's difference");
      t.diff.resize(sketch_dim);
      if (sketch_dim > 0) std::memcpy(t.diff.data(), bytes.data() + at, per_sketch);
      check_finite(t.diff, at, "a followed pair's difference");
      if (!state.followed_pairs
               .emplace(std::pair{p.at("a").get<std::string>(), p.at("b").get<std::string>()},
                        std::move(t))
               .second)
        FEDGUARD_THROW(kIo, path << ": offset 16: followed pair '" << p.at("a").get<std::string>()
                                 << "', '" << p.at("b").get<std::string>() << "' appears twice");
    }
  }
  if (offset != size)
    FEDGUARD_THROW(kIo, path << ": offset " << offset << ": " << size - offset
                             << " bytes after the data the header describes");
  return state;
}

void check_model_dim(const EngineState& state, std::size_t d) {
  if (state.model_dim == 0 || state.model_dim == d) return;
  // (A previous aggregate of another size has its own error, where the engine uses it.)
  bool holds = !state.aggregate_sketches.empty();
  for (const auto& [id, h] : state.clients)
    holds = holds || !h.sketch_sum.empty() || !h.last_sketch.empty();
  FEDGUARD_EXPECTS(!holds, "the engine's state was built from rounds of model size d="
                               << state.model_dim << " but this round has d=" << d
                               << "; its histories cannot be used or extended (call reset_state() "
                                  "or use another state file when the model changes)");
}

}  // namespace fedguard::engine
