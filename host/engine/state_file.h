// The engine's state across rounds, and its versioned file format (docs/formats.md):
//   bytes 0..7   magic "FGSTATE1"
//   bytes 8..15  header length H (little-endian uint64)
//   bytes 16..   H bytes of JSON: {"version": 4, "sketch": "count", "sketch_dim", "sketch_seed",
//   "model_dim", "rounds",
//                "previous_aggregate": length (0 = none), "aggregate_sketches": count,
//                "clients": [{"id", "rounds_seen", "last_round", "sketch": bool,
//                "last_sketch": bool, "reputation": number or null, "suspicion": [numbers],
//                "verified": [first round, last round] or null (optional),
//                "baseline": {"norm": [sum, weight, rounds], "sign": [...],
//                "accepted": [...]} (optional)}, ...],
//                "verification": {"round": r, "nonce": "64 hex digits"} or null (optional)}
//   then the previous aggregate (float32), the aggregate sketches (float64, sketch_dim values
//   each, oldest first), and per client in the order of "clients" its cumulative sketch and
//   its last sketch where the flags say so (float64, sketch_dim values each); the file ends
//   there exactly. "model_dim" is the d of the rounds the histories were built from (0: none
//   yet); every stored value must be finite. "sketch" names the sketch the histories live in
//   (version 4 on; the count sketch of issue 19). Files of versions 1-3 were written with the
//   dense +-1/sqrt(q) sketch: those holding any sketch (client or aggregate) are refused with an
//   error naming the file and saying the sketch changed; those without load. Version 3 files are
//   version 4 without "sketch". Version 2 files (no "model_dim": taken from the
//   previous aggregate where there is one, else unknown) and version 1 files (no aggregate
//   sketches, every client with a cumulative sketch, no other per-client fields) are read too.
//   Client verification's fields ("verified" per client, "verification") are optional whatever
//   the version. An optional header key "monitor" holds the monitor's state
//   (monitor::MonitorState::to_json: detectors' float64 states, exact through JSON's shortest
//   round-trip numbers, and the hashes of the client ids seen); absent: a fresh monitor.
//   An optional header key "followed_pairs" (absent: none) lists the pairs the history signal
//   follows, [{"a": id, "b": id (a < b), "rounds": r, "sums": [weighted_sq, weight, weight_sq,
//   energy, energy_sq] (finite, >= 0)}, ...] (at most detection::kMaxFollowedPairs); each
//   pair's decayed difference (sketch_dim float64 values) follows the clients' sketches, in
//   the order of the list.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "detection/pair_persistence.h"
#include "monitor/monitor.h"

namespace fedguard::engine {

/// A client's own baseline of one detection signal (docs/detection.md): the exponentially
/// weighted mean of its z over the rounds it was accepted, sum / weight (bias-corrected).
struct SignalBaseline {
  double sum = 0;
  double weight = 0;
  std::uint64_t rounds = 0;  ///< accepted rounds that fed it
  double mean() const { return weight > 0 ? sum / weight : 0.0; }
};

struct ClientHistory {
  std::vector<double> sketch_sum;   ///< sum of the client's sketched updates (empty: none)
  std::vector<double> last_sketch;  ///< the sketch of its last update (FLDetector; empty: none)
  std::vector<double> suspicion;    ///< FLDetector's window of normalised errors, oldest first
  double reputation = 0;
  bool has_reputation = false;
  std::uint64_t rounds_seen = 0;
  std::uint64_t last_round = 0;  ///< index of the last round the client took part in
  // Client verification (docs/verification.md): federation round numbers of the client's first
  // and last verified updates (replay protection, probation).
  bool verified = false;
  std::uint64_t first_verified_round = 0;
  std::uint64_t last_verified_round = 0;
  /// Detection's own baselines: the norm and sign z over accepted rounds, and the share of
  /// its rounds the client was accepted in (1 or 0 each round, the same EWMA).
  SignalBaseline norm_baseline, sign_baseline, accepted_share;
  /// The response signal (detection/response.h): the sum of the client's per-round response z's
  /// and how many rounds they cover.
  double response_sum = 0;
  std::uint64_t response_rounds = 0;
  bool last_accepted = false;  ///< whether its last update was in that round's accepted set
};

/// One round of the response signal's window: the sum of the sketches of the clients the round
/// accepted, and how many (detection/response.h: each client's model change leaves itself out).
struct ResponseRound {
  std::vector<double> accepted_sum;
  std::uint64_t accepted = 0;
};

struct EngineState {
  std::uint64_t rounds = 0;
  /// d of the rounds this state was built from; 0 when unknown (nothing kept yet, or a
  /// version 1-2 file without a previous aggregate).
  std::uint64_t model_dim = 0;
  std::vector<float> previous_aggregate;
  std::vector<std::vector<double>> aggregate_sketches;  ///< oldest first
  std::vector<ResponseRound> response_window;           ///< oldest first, the last rounds
  std::map<std::string, ClientHistory> clients;
  /// Pairs of client ids (the smaller first) whose histories came close, followed so that the
  /// history signal can tell honest twins from Sybils (detection/pair_persistence.h).
  std::map<std::pair<std::string, std::string>, detection::PairTrack> followed_pairs;
  // The last verified round this engine completed and its nonce (stale_round, nonce reuse).
  bool has_verified_round = false;
  std::uint64_t verified_round = 0;
  std::array<std::uint8_t, 32> verified_nonce{};
  monitor::MonitorState monitor;  ///< the header's optional "monitor" section (docs/monitoring.md)
};

/// Writes atomically (a temporary file renamed over path). Throws kIo naming the path.
void write_state(const std::string& path, const EngineState& state, std::size_t sketch_dim,
                 std::uint64_t sketch_seed);
/// Reads and validates everything (magic, version, JSON, sizes, sketch settings against the
/// expected ones); throws kIo naming the file and offset, or kInvalidInput for a mismatch.
EngineState read_state(const std::string& path, std::size_t sketch_dim, std::uint64_t sketch_seed);
/// The same for a file's bytes already in memory (path names it in messages).
EngineState parse_state(const std::string& bytes, const std::string& path, std::size_t sketch_dim,
                        std::uint64_t sketch_seed);

/// Throws kInvalidInput naming both sizes when state holds anything built from a model of
/// another size than d (sketched histories, aggregate sketches; a previous aggregate has its
/// own check where the engine uses it): using them would mix the histories of two models. A
/// round that throws here changes no state.
void check_model_dim(const EngineState& state, std::size_t d);

}  // namespace fedguard::engine
