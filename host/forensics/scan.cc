#include "forensics/scan.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "fedguard/engine.h"
#include "fedguard/error.h"
#include "forensics/layer_scores.h"
#include "io/update_log.h"

namespace fedguard::forensics {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

nlohmann::json finite_or_null(const std::vector<double>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (double x : v) a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr));
  return a;
}

class Progress {
 public:
  Progress(ProgressMode mode, std::FILE* stream, std::size_t total)
      : stream_(stream), total_(total) {
    if (mode == ProgressMode::kAuto)
      mode = stream != nullptr && ::isatty(::fileno(stream)) ? ProgressMode::kBar
                                                             : ProgressMode::kLines;
    mode_ = stream == nullptr ? ProgressMode::kNone : mode;
    start_ = last_ = Clock::now();
  }
  void update(std::size_t done, std::size_t bytes, const std::string& file, bool force = false) {
    if (mode_ == ProgressMode::kNone) return;
    const double since_last = std::chrono::duration<double>(Clock::now() - last_).count();
    const double elapsed = seconds_since(start_);
    const double mbps = elapsed > 0 ? static_cast<double>(bytes) / 1e6 / elapsed : 0;
    if (mode_ == ProgressMode::kBar) {
      if (!force && since_last < 0.1 && done < total_) return;
      constexpr int kWidth = 30;
      const int filled = total_ ? static_cast<int>(kWidth * done / total_) : kWidth;
      const double eta =
          done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - done) : 0;
      std::fprintf(stream_, "\r[%s%s] %zu/%zu rounds  %.0f MB/s  ETA %.0fs ",
                   std::string(filled, '#').c_str(), std::string(kWidth - filled, ' ').c_str(),
                   done, total_, mbps, eta);
      if (done == total_) std::fputc('\n', stream_);
    } else {
      // Plain lines: about every 2 seconds, and the first and last round.
      if (!force && since_last < 2.0 && done != 1 && done != total_) return;
      std::fprintf(stream_, "scan: %zu/%zu rounds (%s), %.1f MB/s\n", done, total_, file.c_str(),
                   mbps);
    }
    std::fflush(stream_);
    last_ = Clock::now();
  }
  void message(const std::string& text) {
    if (stream_ == nullptr) return;
    if (mode_ == ProgressMode::kBar) std::fputc('\n', stream_);
    std::fprintf(stream_, "%s\n", text.c_str());
    std::fflush(stream_);
  }

 private:
  std::FILE* stream_;
  std::size_t total_;
  ProgressMode mode_;
  Clock::time_point start_, last_;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) FEDGUARD_THROW(kIo, path << ": cannot open for writing");
  f << text;
  if (!f) FEDGUARD_THROW(kIo, path << ": write failed");
}

nlohmann::ordered_json round_line(const ScannedRound& r, const PolicyRound* p,
                                  const RoundResult* result, const std::string& policy_name) {
  nlohmann::ordered_json j;
  j["round"] = r.round;
  j["file"] = r.file;
  if (!policy_name.empty()) j["policy"] = policy_name;
  if (!r.ok) {
    j["error"] = r.error;
    return j;
  }
  j["client_ids"] = r.client_ids;
  if (r.has_ground_truth) {
    std::vector<std::string> mal;
    for (std::size_t i = 0; i < r.client_ids.size(); ++i)
      if (r.malicious[i]) mal.push_back(r.client_ids[i]);
    j["malicious"] = mal;
  }
  if (!r.warnings.empty()) j["warnings"] = r.warnings;
  if (p != nullptr && !p->ok) {
    j["error"] = p->error;
    return j;
  }
  if (result != nullptr) {
    const nlohmann::ordered_json rj = result->to_json();
    for (const auto& [k, v] : rj.items()) j[k] = v;
  }
  if (!r.layers.empty()) {
    nlohmann::ordered_json ls = nlohmann::ordered_json::object();
    for (std::size_t k = 0; k < r.layers.size(); ++k) {
      ls[r.layers[k]] = {{"median_distance", finite_or_null(r.layer_median_distance[k])},
                         {"norm_z", finite_or_null(r.layer_norm_z[k])}};
    }
    j["layer_scores"] = std::move(ls);
  }
  return j;
}

std::string clients_csv(const ScanSummary& s, std::size_t policy) {
  const auto stats = client_stats(s, policy);
  std::ostringstream o;
  o << "client_id,rounds_seen,times_rejected,first_rejection";
  if (s.has_ground_truth) o << ",malicious_rounds";
  for (const std::string& det : s.policies[policy].detectors) o << ",mean_" << csv_field(det);
  o << '\n';
  o.precision(9);
  for (const ClientStats& c : stats) {
    o << csv_field(c.id) << ',' << c.rounds_seen << ',' << c.times_rejected << ',';
    if (c.rejected_ever) o << c.first_rejection;
    if (s.has_ground_truth) o << ',' << c.malicious_rounds;
    for (const std::string& det : s.policies[policy].detectors) {
      o << ',';
      const auto cnt = c.score_count.find(det);
      if (cnt != c.score_count.end() && cnt->second > 0)
        o << c.score_sum.at(det) / static_cast<double>(cnt->second);
    }
    o << '\n';
  }
  return o.str();
}

std::string safe_dir_name(const std::string& name) {
  std::string out;
  for (char c : name)
    out +=
        (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (out.empty() || out == "." || out == "..") out = "policy";
  return out;
}

}  // namespace

bool higher_is_suspicious(const std::string& detector) {
  // Scores that are trust or weights (cosine with the root update, clip factors, FoolsGold's
  // learning rate) point the other way: low is suspicious.
  static const std::set<std::string> kLowSuspicious = {"fltrust", "norm_clip", "arc", "foolsgold",
                                                       "reputation"};
  return kLowSuspicious.count(detector) == 0;
}

Roc roc_curve(const std::vector<double>& scores, const std::vector<std::uint8_t>& labels,
              bool higher_suspicious) {
  std::vector<std::pair<double, std::uint8_t>> v;
  for (std::size_t i = 0; i < scores.size() && i < labels.size(); ++i) {
    if (std::isfinite(scores[i]))
      v.emplace_back(higher_suspicious ? scores[i] : -scores[i], labels[i] ? 1 : 0);
  }
  Roc roc;
  for (const auto& p : v) (p.second ? roc.positives : roc.negatives)++;
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  roc.fpr.push_back(0);
  roc.tpr.push_back(0);
  double tp = 0, fp = 0, area = 0;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    double dtp = 0, dfp = 0;
    while (j < v.size() && v[j].first == v[i].first) {
      (v[j].second ? dtp : dfp) += 1;
      ++j;
    }
    area += dfp * (tp + dtp / 2);  // ties: half
    tp += dtp;
    fp += dfp;
    roc.fpr.push_back(roc.negatives ? fp / static_cast<double>(roc.negatives) : 0);
    roc.tpr.push_back(roc.positives ? tp / static_cast<double>(roc.positives) : 0);
    i = j;
  }
  roc.auc = roc.positives && roc.negatives
                ? area / (static_cast<double>(roc.positives) * static_cast<double>(roc.negatives))
                : std::nan("");
  return roc;
}

std::vector<ClientStats> client_stats(const ScanSummary& s, std::size_t policy) {
  std::map<std::string, ClientStats> by_id;
  std::vector<std::string> order;
  for (const ScannedRound& r : s.rounds) {
    if (!r.ok || policy >= r.policies.size() || !r.policies[policy].ok) continue;
    const PolicyRound& p = r.policies[policy];
    for (std::size_t i = 0; i < r.client_ids.size(); ++i) {
      auto [it, fresh] = by_id.try_emplace(r.client_ids[i]);
      ClientStats& c = it->second;
      if (fresh) {
        c.id = r.client_ids[i];
        order.push_back(c.id);
      }
      ++c.rounds_seen;
      if (r.has_ground_truth && r.malicious[i]) ++c.malicious_rounds;
      if (i < p.accepted.size() && !p.accepted[i]) {
        ++c.times_rejected;
        if (!c.rejected_ever) c.first_rejection = r.round;
        c.rejected_ever = true;
      }
      for (const auto& [det, values] : p.scores) {
        if (i < values.size() && std::isfinite(values[i])) {
          c.score_sum[det] += values[i];
          ++c.score_count[det];
        }
      }
    }
  }
  std::vector<ClientStats> out;
  for (const std::string& id : order) out.push_back(std::move(by_id[id]));
  return out;
}

ScanSummary run_scan(const ScanOptions& opt) {
  FEDGUARD_EXPECTS(!opt.policies.empty(), "scan needs at least one policy");
  const auto start = Clock::now();
  io::UpdateLog log(opt.log_dir);
  ScanSummary s;
  s.log_dir = opt.log_dir;
  std::vector<Engine> engines;
  for (const PolicySpec& p : opt.policies) {
    engines.emplace_back(p.config);
    s.policies.push_back({p.name, p.config.to_json(), {}});
  }
  const bool compare = opt.policies.size() > 1;
  // Streams for rounds.jsonl: one per policy (compare mode: in the policy's folder).
  std::vector<std::unique_ptr<std::ofstream>> jsonl;
  std::vector<std::string> policy_dirs;
  if (!opt.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(opt.out_dir, ec);
    if (ec) FEDGUARD_THROW(kIo, opt.out_dir << ": cannot create: " << ec.message());
    std::set<std::string> used;
    for (const PolicySpec& p : opt.policies) {
      std::string dir = opt.out_dir;
      if (compare) {
        std::string name = safe_dir_name(p.name), base = name;
        for (int k = 2; used.count(name); ++k) name = base + "_" + std::to_string(k);
        used.insert(name);
        dir += "/" + name;
        std::filesystem::create_directories(dir, ec);
        if (ec) FEDGUARD_THROW(kIo, dir << ": cannot create: " << ec.message());
      }
      policy_dirs.push_back(dir);
      jsonl.push_back(std::make_unique<std::ofstream>(dir + "/rounds.jsonl", std::ios::trunc));
      if (!*jsonl.back()) FEDGUARD_THROW(kIo, dir << "/rounds.jsonl: cannot open for writing");
    }
  }

  const auto& entries = log.entries();
  Progress progress(opt.progress, opt.progress_stream, entries.size());
  std::vector<std::set<std::string>> detectors(opt.policies.size());
  // While round i is processed, a helper thread asks the kernel to read round i + 1, so that a
  // log larger than memory scans at the speed of the slower of the disk and the engine rather
  // than their sum (bench/results/scan_*.md).
  struct Prefetcher {  // joins on every way out of the loop, an exception's too
    std::thread thread;
    void join() {
      if (thread.joinable()) thread.join();
    }
    ~Prefetcher() { join(); }
  } prefetch;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    prefetch.join();
    if (i + 1 < entries.size())
      prefetch.thread = std::thread(io::prefetch_file, entries[i + 1].path);
    ScannedRound sr;
    sr.index = i;
    sr.file = std::filesystem::path(entries[i].path).filename().string();
    sr.round = entries[i].manifest ? entries[i].manifest->round : i;
    sr.policies.resize(opt.policies.size());
    std::vector<RoundResult> results(opt.policies.size());
    try {
      const auto t0 = Clock::now();
      io::RoundData rd = log.read(i);
      s.read_seconds += seconds_since(t0);
      sr.ok = true;
      sr.round = rd.round;
      sr.client_ids = rd.client_ids;
      sr.warnings = rd.warnings;
      sr.n = rd.updates.rows();
      sr.d = rd.updates.cols();
      sr.bytes = rd.update_bytes;
      sr.has_ground_truth = rd.has_ground_truth;
      if (rd.has_ground_truth) {
        std::set<std::string> mal(rd.malicious.begin(), rd.malicious.end());
        for (const auto& id : rd.client_ids) sr.malicious.push_back(mal.count(id) ? 1 : 0);
        s.has_ground_truth = true;
      }
      RoundInput in;
      in.updates = rd.updates;
      in.client_ids = rd.client_ids;
      in.num_samples = rd.num_samples;
      in.reference = rd.reference.empty() ? nullptr : rd.reference.data();
      for (std::size_t k = 0; k < engines.size(); ++k) {
        PolicyRound& pr = sr.policies[k];
        const auto tp = Clock::now();
        try {
          results[k] = engines[k].process_round(in);
          pr.ok = true;
          pr.accepted = results[k].accepted;
          pr.scores = results[k].scores;
          pr.reasons = results[k].reasons;
          pr.metrics = results[k].metrics;
          pr.alerts = results[k].alerts;
          for (const auto& [det, v] : pr.scores) detectors[k].insert(det);
        } catch (const Error& e) {
          pr.error = e.what();
          progress.message("scan: round " + std::to_string(sr.round) + " (" + sr.file +
                           "): policy '" + opt.policies[k].name + "' failed: " + e.what());
        }
        pr.ms = seconds_since(tp) * 1e3;
      }
      if (opt.layer_scores && sr.n > 0 && sr.d > 0) {
        LayerScores ls = compute_layer_scores(rd.updates, rd.layers);
        sr.layers = std::move(ls.layers);
        sr.layer_median_distance = std::move(ls.median_distance);
        sr.layer_norm_z = std::move(ls.norm_z);
      }
      s.bytes += sr.bytes;
      rd.release();
    } catch (const std::exception& e) {
      // One bad round file is that round's error, whatever failed (a fedguard::Error, or an
      // allocation a hostile header asked for): the scan goes on with the next round.
      sr.ok = false;
      sr.error = dynamic_cast<const Error*>(&e) ? e.what()
                                                : std::string("cannot read the round: ") + e.what();
      ++s.bad_rounds;
      progress.message(std::string("scan: skipping ") + entries[i].path + ": " + sr.error);
    }
    for (std::size_t k = 0; k < jsonl.size(); ++k) {
      *jsonl[k] << round_line(sr, sr.ok ? &sr.policies[k] : nullptr,
                              sr.ok && sr.policies[k].ok ? &results[k] : nullptr,
                              compare ? opt.policies[k].name : "")
                       // Text from the log (ids, messages quoting its bytes) may not be UTF-8:
                       // replaced, not a reason to abort the scan.
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                << '\n';
    }
    s.rounds.push_back(std::move(sr));
    progress.update(i + 1, s.bytes, s.rounds.back().file);
  }
  for (std::size_t k = 0; k < detectors.size(); ++k) {
    s.policies[k].detectors.assign(detectors[k].begin(), detectors[k].end());
  }
  s.seconds = seconds_since(start);

  if (!opt.out_dir.empty()) {
    for (std::size_t k = 0; k < jsonl.size(); ++k) {
      jsonl[k]->flush();
      if (!*jsonl[k]) FEDGUARD_THROW(kIo, policy_dirs[k] << "/rounds.jsonl: write failed");
      write_text(policy_dirs[k] + "/clients.csv", clients_csv(s, k));
    }
    if (compare) write_text(opt.out_dir + "/comparison.json", compare_policies(s).dump(2) + "\n");
    write_text(opt.out_dir + "/report.html", render_report(s));
  }
  return s;
}

}  // namespace fedguard::forensics
