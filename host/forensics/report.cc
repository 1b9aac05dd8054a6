// The HTML report of `fedguard scan` and the policy comparison.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "fedguard/engine.h"
#include "forensics/scan.h"
#include "forensics/svg_plot.h"

namespace fedguard::forensics {
namespace {

constexpr const char* kMalColor = "#d62728";
constexpr const char* kBenColor = "#7f7f7f";
constexpr const char* kRejColor = "#ff7f0e";
constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
// Beyond this many clients the timelines draw the benign ones thinned out (every k-th).
constexpr std::size_t kMaxBenignLines = 200;
constexpr std::size_t kMaxGridClients = 60;
constexpr std::size_t kMaxGridRounds = 400;

std::string fmt(double v, int digits = 3) {
  if (!std::isfinite(v)) return "n/a";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * v);
  return buf;
}

std::string esc(const std::string& s) { return html_escape(s); }

// Client ids seen in the log in first-seen order, and whether ground truth ever marks them.
struct ClientIndex {
  std::vector<std::string> ids;
  std::map<std::string, std::size_t> pos;
  std::vector<std::uint8_t> ever_malicious;
};

ClientIndex index_clients(const ScanSummary& s) {
  ClientIndex c;
  for (const ScannedRound& r : s.rounds) {
    for (std::size_t i = 0; i < r.client_ids.size(); ++i) {
      auto [it, fresh] = c.pos.try_emplace(r.client_ids[i], c.ids.size());
      if (fresh) {
        c.ids.push_back(r.client_ids[i]);
        c.ever_malicious.push_back(0);
      }
      if (r.has_ground_truth && r.malicious[i]) c.ever_malicious[it->second] = 1;
    }
  }
  return c;
}

// Scores of one detector over every client-round with ground truth.
void labelled_scores(const ScanSummary& s, std::size_t policy, const std::string& det,
                     std::vector<double>* scores, std::vector<std::uint8_t>* labels) {
  for (const ScannedRound& r : s.rounds) {
    if (!r.ok || !r.has_ground_truth || !r.policies[policy].ok) continue;
    const auto it = r.policies[policy].scores.find(det);
    if (it == r.policies[policy].scores.end()) continue;
    for (std::size_t i = 0; i < r.client_ids.size() && i < it->second.size(); ++i) {
      scores->push_back(it->second[i]);
      labels->push_back(r.malicious[i]);
    }
  }
}

std::string acceptance_plot(const ScanSummary& s, std::size_t policy) {
  SvgPlot plot(1100, 260);
  plot.title("Per-round acceptance: " + s.policies[policy].name);
  plot.x_label("round");
  plot.y_label("clients");
  Series acc{Series::Kind::kBars}, rej_ben{Series::Kind::kBars}, rej_mal{Series::Kind::kBars},
      acc_mal{Series::Kind::kBars}, bad{Series::Kind::kBars};
  acc.label = "accepted";
  acc.color = "#2ca02c";
  acc_mal.label = s.has_ground_truth ? "accepted, malicious" : "";
  acc_mal.color = "#8b0000";
  rej_ben.label = s.has_ground_truth ? "rejected, benign" : "rejected";
  rej_ben.color = kRejColor;
  rej_mal.label = s.has_ground_truth ? "rejected, malicious" : "";
  rej_mal.color = kMalColor;
  bad.label = "round unreadable / policy failed";
  bad.color = "#000";
  bad.opacity = 0.25;
  std::size_t max_n = 1;
  for (const ScannedRound& r : s.rounds) max_n = std::max(max_n, r.n);
  for (const ScannedRound& r : s.rounds) {
    const double x = static_cast<double>(r.round);
    const PolicyRound* p = r.ok ? &r.policies[policy] : nullptr;
    if (p == nullptr || !p->ok) {
      bad.x.push_back(x);
      bad.y.push_back(static_cast<double>(max_n));
      continue;
    }
    double a = 0, am = 0, rb = 0, rm = 0;
    for (std::size_t i = 0; i < p->accepted.size(); ++i) {
      const bool mal = r.has_ground_truth && r.malicious[i];
      if (p->accepted[i]) {
        (mal ? am : a) += 1;
      } else {
        (mal ? rm : rb) += 1;
      }
    }
    acc.x.push_back(x), acc.y.push_back(a), acc.base.push_back(0);
    acc_mal.x.push_back(x), acc_mal.y.push_back(am), acc_mal.base.push_back(a);
    rej_ben.x.push_back(x), rej_ben.y.push_back(rb), rej_ben.base.push_back(a + am);
    rej_mal.x.push_back(x), rej_mal.y.push_back(rm), rej_mal.base.push_back(a + am + rb);
  }
  plot.add(acc);
  if (s.has_ground_truth) plot.add(acc_mal);
  plot.add(rej_ben);
  if (s.has_ground_truth) plot.add(rej_mal);
  if (!bad.x.empty()) plot.add(bad);
  return plot.render();
}

// Monitoring (docs/monitoring.md): the timeline of each metric a detector of the policy watches,
// the rounds with an alert on it marked, and the list of alerts.
std::string monitoring_section(const ScanSummary& s, std::size_t policy) {
  std::vector<std::string> watched;
  const nlohmann::json& config = s.policies[policy].config;
  if (config.contains("monitoring") && config["monitoring"].value("enabled", false))
    for (const auto& d : config["monitoring"].value("detectors", nlohmann::json::array()))
      if (d.contains("metric") &&
          std::find(watched.begin(), watched.end(), d["metric"]) == watched.end())
        watched.push_back(d["metric"].get<std::string>());
  std::ostringstream o;
  std::vector<const Alert*> alerts;
  for (const ScannedRound& r : s.rounds)
    if (r.ok && r.policies[policy].ok)
      for (const Alert& a : r.policies[policy].alerts) alerts.push_back(&a);
  o << "<h2>Monitoring: " << html_escape(s.policies[policy].name) << "</h2>\n<p>" << alerts.size()
    << " change-point alert(s). Alert rounds are the engine's (rounds it processed, from 0); the x "
       "axis is "
       "the log's round number.</p>\n";
  for (const std::string& metric : watched) {
    Series line;
    line.label = metric;
    Series marks{Series::Kind::kPoints};
    marks.label = "alert";
    marks.marker = "cross";
    marks.color = "#d62728";
    marks.width = 5;
    bool any = false;
    for (const ScannedRound& r : s.rounds) {
      const PolicyRound* p = r.ok && r.policies[policy].ok ? &r.policies[policy] : nullptr;
      const auto it = p ? p->metrics.find(metric) : std::map<std::string, double>::const_iterator{};
      const bool has = p && it != p->metrics.end() && std::isfinite(it->second);
      line.x.push_back(static_cast<double>(r.round));
      line.y.push_back(has ? it->second : std::nan(""));
      any = any || has;
      if (!has) continue;
      for (const Alert& a : p->alerts)
        if (a.metric == metric) {
          marks.x.push_back(static_cast<double>(r.round));
          marks.y.push_back(it->second);
          marks.tooltip = "alert";
        }
    }
    if (!any) continue;
    SvgPlot plot(1100, 240);
    plot.title("Metric timeline: " + metric + " (" + s.policies[policy].name + ")");
    plot.x_label("round");
    plot.y_label(metric);
    plot.add(line);
    if (!marks.x.empty()) plot.add(marks);
    o << plot.render();
  }
  if (!alerts.empty()) {
    o << "<table><tr><th>round</th><th>metric</th><th>method</th><th>direction</th><th>statistic</"
         "th>"
         "<th>threshold</th><th>value</th><th>baseline</th></tr>";
    for (const Alert* a : alerts)
      o << "<tr><td>" << a->round << "</td><td>" << html_escape(a->metric) << "</td><td>"
        << a->method << "</td><td>" << a->direction << "</td><td>" << fmt(a->statistic)
        << "</td><td>" << fmt(a->threshold) << "</td><td>" << fmt(a->value) << "</td><td>"
        << fmt(a->baseline_mean) << " &plusmn; " << fmt(a->baseline_scale) << "</td></tr>";
    o << "</table>\n";
  }
  return o.str();
}

std::string timeline_plot(const ScanSummary& s, std::size_t policy, const std::string& det,
                          const ClientIndex& ci) {
  SvgPlot plot(1100, 300);
  plot.title("Score timeline: " + det + " (" + s.policies[policy].name + ")" +
             (higher_is_suspicious(det) ? "" : " - low is suspicious"));
  plot.x_label("round");
  plot.y_label(det);
  const std::size_t nc = ci.ids.size();
  std::vector<Series> lines(nc);
  Series rejected{Series::Kind::kPoints};
  rejected.label = "rejected";
  rejected.marker = "cross";
  rejected.color = "#000";
  rejected.width = 3;
  for (const ScannedRound& r : s.rounds) {
    const PolicyRound* p = r.ok ? &r.policies[policy] : nullptr;
    const std::vector<double>* v = nullptr;
    if (p != nullptr && p->ok) {
      const auto it = p->scores.find(det);
      if (it != p->scores.end()) v = &it->second;
    }
    // A gap in a client's line where the round is missing.
    for (Series& l : lines) {
      l.x.push_back(static_cast<double>(r.round));
      l.y.push_back(std::nan(""));
    }
    if (v == nullptr) continue;
    for (std::size_t i = 0; i < r.client_ids.size() && i < v->size(); ++i) {
      const std::size_t c = ci.pos.at(r.client_ids[i]);
      lines[c].y.back() = (*v)[i];
      if (!p->accepted[i] && std::isfinite((*v)[i])) {
        rejected.x.push_back(static_cast<double>(r.round));
        rejected.y.push_back((*v)[i]);
      }
    }
  }
  const bool gt = s.has_ground_truth;
  std::size_t benign_total = 0;
  for (std::size_t c = 0; c < nc; ++c) benign_total += gt ? !ci.ever_malicious[c] : 1;
  const std::size_t stride =
      std::max<std::size_t>(1, (benign_total + kMaxBenignLines - 1) / kMaxBenignLines);
  std::size_t benign_seen = 0;
  bool ben_labelled = false, mal_labelled = false;
  for (std::size_t c = 0; c < nc; ++c) {
    Series& l = lines[c];
    l.tooltip = ci.ids[c];
    if (gt && ci.ever_malicious[c]) continue;  // drawn on top below
    if (benign_seen++ % stride != 0) continue;
    l.color = gt ? kBenColor : "#1f77b4";
    l.width = 1;
    l.opacity = gt ? 0.45 : 0.5;
    if (!ben_labelled) l.label = gt ? "benign" : "client";
    ben_labelled = true;
    plot.add(l);
  }
  for (std::size_t c = 0; c < nc; ++c) {
    if (!(gt && ci.ever_malicious[c])) continue;
    Series& l = lines[c];
    l.color = kMalColor;
    l.width = 2;
    if (!mal_labelled) l.label = "malicious";
    mal_labelled = true;
    plot.add(l);
  }
  if (!rejected.x.empty()) plot.add(rejected);
  std::string note;
  if (stride > 1)
    note = "<p class=\"note\">Every " + std::to_string(stride) + "th benign client drawn.</p>";
  return plot.render() + note;
}

// A clients x rounds grid: accepted / rejected, malicious rounds outlined.
std::string decision_grid(const ScanSummary& s, std::size_t policy, const ClientIndex& ci) {
  // Malicious clients first, then the most rejected.
  std::vector<std::size_t> rejected(ci.ids.size(), 0);
  for (const ScannedRound& r : s.rounds) {
    if (!r.ok || !r.policies[policy].ok) continue;
    for (std::size_t i = 0; i < r.client_ids.size(); ++i)
      if (!r.policies[policy].accepted[i]) ++rejected[ci.pos.at(r.client_ids[i])];
  }
  std::vector<std::size_t> order(ci.ids.size());
  for (std::size_t c = 0; c < order.size(); ++c) order[c] = c;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (ci.ever_malicious[a] != ci.ever_malicious[b])
      return ci.ever_malicious[a] > ci.ever_malicious[b];
    return rejected[a] > rejected[b];
  });
  if (order.size() > kMaxGridClients) order.resize(kMaxGridClients);
  const std::size_t rounds = std::min(s.rounds.size(), kMaxGridRounds);
  const double cell_w = std::max(2.0, std::min(14.0, 900.0 / std::max<std::size_t>(1, rounds)));
  const double cell_h = 12, left = 150, top = 24;
  // Wide enough for the title line (about 6.6 px a character at 12 px bold).
  const double title_w = left + 6.6 * static_cast<double>(s.policies[policy].name.size() + 90);
  const double w = std::max(title_w, left + cell_w * rounds + 20),
               h = top + cell_h * order.size() + 30;
  std::map<std::size_t, std::size_t> row_of;
  for (std::size_t k = 0; k < order.size(); ++k) row_of[order[k]] = k;
  std::ostringstream o;
  char buf[256];
  std::snprintf(
      buf, sizeof buf,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" "
      "font-size=\"10\" class=\"plot\"><rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>",
      w, h);
  o << buf;
  o << "<text x=\"" << left
    << "\" y=\"14\" font-size=\"12\" font-weight=\"bold\">Decisions per client and round ("
    << esc(s.policies[policy].name) << "): green accepted, orange rejected, red outline = malicious"
    << "</text>";
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t c = order[k];
    o << "<text x=\"" << left - 4 << "\" y=\"" << top + cell_h * k + 9 << "\" text-anchor=\"end\""
      << (ci.ever_malicious[c] ? " fill=\"#d62728\"" : "") << ">" << esc(ci.ids[c].substr(0, 24))
      << "</text>";
  }
  for (std::size_t t = 0; t < rounds; ++t) {
    const ScannedRound& r = s.rounds[t];
    const double x = left + cell_w * t;
    if (!r.ok || !r.policies[policy].ok) {
      std::snprintf(buf, sizeof buf,
                    "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"#000\" "
                    "fill-opacity=\"0.15\"/>",
                    x, top, cell_w, cell_h * order.size());
      o << buf;
      continue;
    }
    for (std::size_t i = 0; i < r.client_ids.size(); ++i) {
      const auto it = row_of.find(ci.pos.at(r.client_ids[i]));
      if (it == row_of.end()) continue;
      const bool acc = r.policies[policy].accepted[i] != 0;
      const bool mal = r.has_ground_truth && r.malicious[i];
      std::snprintf(buf, sizeof buf,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s/>",
                    x + 0.5, top + cell_h * it->second + 0.5, cell_w - 1, cell_h - 1,
                    acc ? "#2ca02c" : kRejColor,
                    mal ? " stroke=\"#d62728\" stroke-width=\"1.5\"" : "");
      o << buf;
    }
  }
  o << "<text x=\"" << left << "\" y=\"" << h - 10 << "\">rounds "
    << (rounds ? s.rounds[0].round : 0) << " .. " << (rounds ? s.rounds[rounds - 1].round : 0)
    << (s.rounds.size() > rounds ? " (first rounds only)" : "") << "</text></svg>\n";
  return o.str();
}

std::string histogram(const ScanSummary& s, std::size_t policy, const std::string& det) {
  std::vector<double> a, b;  // malicious / benign (or rejected / accepted without ground truth)
  for (const ScannedRound& r : s.rounds) {
    if (!r.ok || !r.policies[policy].ok) continue;
    const auto it = r.policies[policy].scores.find(det);
    if (it == r.policies[policy].scores.end()) continue;
    for (std::size_t i = 0; i < it->second.size() && i < r.client_ids.size(); ++i) {
      const double v = it->second[i];
      if (!std::isfinite(v)) continue;
      const bool first = s.has_ground_truth ? (r.has_ground_truth && r.malicious[i])
                                            : !r.policies[policy].accepted[i];
      (first ? a : b).push_back(v);
    }
  }
  SvgPlot plot(540, 240);
  plot.title(det + ": score distribution");
  plot.x_label(det);
  plot.y_label("fraction");
  if (a.empty() && b.empty()) return plot.render();
  double lo = INFINITY, hi = -INFINITY;
  for (double v : a) lo = std::min(lo, v), hi = std::max(hi, v);
  for (double v : b) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!(hi > lo)) hi = lo + 1;
  constexpr int kBins = 40;
  const double bw = (hi - lo) / kBins;
  auto hist = [&](const std::vector<double>& v, Series& out) {
    std::vector<double> counts(kBins, 0);
    for (double x : v) counts[std::min(kBins - 1, static_cast<int>((x - lo) / bw))] += 1;
    for (int k = 0; k < kBins; ++k) {
      out.x.push_back(lo + (k + 0.5) * bw);
      out.y.push_back(v.empty() ? 0 : counts[k] / static_cast<double>(v.size()));
    }
    out.bar_width = bw;
  };
  Series sb{Series::Kind::kBars}, sa{Series::Kind::kBars};
  sb.label = (s.has_ground_truth ? "benign (" : "accepted (") + std::to_string(b.size()) + ")";
  sb.color = s.has_ground_truth ? kBenColor : "#2ca02c";
  sb.opacity = 0.6;
  sa.label = (s.has_ground_truth ? "malicious (" : "rejected (") + std::to_string(a.size()) + ")";
  sa.color = s.has_ground_truth ? kMalColor : kRejColor;
  sa.opacity = 0.6;
  hist(b, sb);
  hist(a, sa);
  plot.add(sb);
  plot.add(sa);
  return plot.render();
}

std::string roc_plot(const ScanSummary& s, std::size_t policy,
                     std::vector<std::pair<std::string, Roc>>* table) {
  SvgPlot plot(540, 460);
  plot.title("ROC per detector (" + s.policies[policy].name + ")");
  plot.x_label("false positive rate");
  plot.y_label("true positive rate");
  plot.x_range(0, 1);
  plot.y_range(0, 1);
  plot.add_guide(0, 0, 1, 1);
  std::size_t k = 0;
  for (const std::string& det : s.policies[policy].detectors) {
    std::vector<double> scores;
    std::vector<std::uint8_t> labels;
    labelled_scores(s, policy, det, &scores, &labels);
    Roc roc = roc_curve(scores, labels, higher_is_suspicious(det));
    table->emplace_back(det, roc);
    if (!std::isfinite(roc.auc)) continue;
    Series l{Series::Kind::kLine};
    l.x = roc.fpr;
    l.y = roc.tpr;
    l.color = kPalette[k++ % (sizeof kPalette / sizeof *kPalette)];
    l.width = 2;
    l.label = det + " (AUC " + fmt(roc.auc) + ")";
    plot.add(l);
  }
  const Confusion c = policy_confusion(s, policy);
  Series pt{Series::Kind::kPoints};
  pt.x = {c.fpr()};
  pt.y = {c.tpr()};
  pt.color = "#000";
  pt.width = 5;
  pt.label = "policy (TPR " + pct(c.tpr()) + ", FPR " + pct(c.fpr()) + ")";
  plot.add(pt);
  return plot.render();
}

// Layers: mean scores per group; the layers where malicious (or rejected) clients stand out most.
std::string layer_section(const ScanSummary& s) {
  struct Acc {
    double dist[2] = {0, 0}, z[2] = {0, 0};
    std::size_t count[2] = {0, 0};
  };
  std::map<std::string, Acc> acc;
  std::vector<std::string> order;
  for (const ScannedRound& r : s.rounds) {
    if (!r.ok || r.layers.empty()) continue;
    const PolicyRound& p = r.policies[0];
    for (std::size_t k = 0; k < r.layers.size(); ++k) {
      auto [it, fresh] = acc.try_emplace(r.layers[k]);
      if (fresh) order.push_back(r.layers[k]);
      for (std::size_t i = 0; i < r.client_ids.size(); ++i) {
        const double dv = r.layer_median_distance[k][i], zv = r.layer_norm_z[k][i];
        if (!std::isfinite(dv) || !std::isfinite(zv)) continue;
        const int g = s.has_ground_truth ? (r.has_ground_truth && r.malicious[i] ? 1 : 0)
                                         : (p.ok && !p.accepted[i] ? 1 : 0);
        it->second.dist[g] += dv;
        it->second.z[g] += std::fabs(zv);
        ++it->second.count[g];
      }
    }
  }
  if (order.empty()) return "<p>Layer scores were not computed (--no-layer-scores).</p>";
  const std::string g1 = s.has_ground_truth ? "malicious" : "rejected",
                    g0 = s.has_ground_truth ? "benign" : "accepted";
  SvgPlot plot(1100, 280);
  plot.title("Mean distance to the coordinate-wise median, per layer (1 = a typical client)");
  plot.x_label("layer (index in the table below)");
  plot.y_label("relative distance");
  Series s0{Series::Kind::kBars}, s1{Series::Kind::kBars};
  s0.label = g0;
  s0.color = kBenColor;
  s0.bar_width = 0.4;
  s1.label = g1;
  s1.color = kMalColor;
  s1.bar_width = 0.4;
  std::ostringstream table;
  table << "<table><tr><th>#</th><th>layer</th><th>distance " << g0 << "</th><th>distance " << g1
        << "</th><th>ratio</th><th>|norm z| " << g0 << "</th><th>|norm z| " << g1 << "</th></tr>";
  struct Row {
    std::size_t idx;
    double ratio;
  };
  std::vector<Row> rows;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Acc& a = acc[order[k]];
    const double d0 = a.count[0] ? a.dist[0] / a.count[0] : NAN,
                 d1 = a.count[1] ? a.dist[1] / a.count[1] : NAN;
    s0.x.push_back(k - 0.2), s0.y.push_back(d0);
    s1.x.push_back(k + 0.2), s1.y.push_back(d1);
    rows.push_back({k, d1 / d0});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    const double x = std::isfinite(a.ratio) ? a.ratio : -1,
                 y = std::isfinite(b.ratio) ? b.ratio : -1;
    return x > y;
  });
  for (const Row& row : rows) {
    const Acc& a = acc[order[row.idx]];
    auto mean = [](double sum, std::size_t c) { return c ? sum / c : NAN; };
    table << "<tr><td>" << row.idx << "</td><td>" << esc(order[row.idx]) << "</td><td>"
          << fmt(mean(a.dist[0], a.count[0])) << "</td><td>" << fmt(mean(a.dist[1], a.count[1]))
          << "</td><td><b>" << fmt(row.ratio) << "</b></td><td>" << fmt(mean(a.z[0], a.count[0]))
          << "</td><td>" << fmt(mean(a.z[1], a.count[1])) << "</td></tr>";
  }
  table << "</table>";
  plot.add(s0);
  plot.add(s1);
  return plot.render() + "<p>Layers sorted by how far the " + g1 +
         " clients stand out (ratio of mean distances).</p>" + table.str();
}

std::string comparison_section(const ScanSummary& s) {
  const nlohmann::json c = compare_policies(s);
  std::ostringstream o;
  o << "<h2>Policy comparison</h2><p>Agreement: the fraction of client-rounds on which two "
       "policies made the same "
       "accept / reject decision.</p><table><tr><th></th>";
  for (const auto& p : s.policies) o << "<th>" << esc(p.name) << "</th>";
  o << "</tr>";
  for (std::size_t a = 0; a < s.policies.size(); ++a) {
    o << "<tr><th>" << esc(s.policies[a].name) << "</th>";
    for (std::size_t b = 0; b < s.policies.size(); ++b)
      o << "<td>" << pct(c["agreement"][a][b].get<double>()) << "</td>";
    o << "</tr>";
  }
  o << "</table>";
  if (s.has_ground_truth) {
    o << "<h3>Which caught whom</h3><p>Per malicious client: rounds rejected / rounds it was "
         "malicious in.</p>"
         "<table><tr><th>client</th>";
    for (const auto& p : s.policies) o << "<th>" << esc(p.name) << "</th>";
    o << "</tr>";
    for (const auto& row : c["caught"]) {
      o << "<tr><td>" << esc(row["client"].get<std::string>()) << "</td>";
      for (const auto& cell : row["by_policy"]) {
        const auto rej = cell["rejected"].get<std::size_t>(),
                   of = cell["malicious_rounds"].get<std::size_t>();
        o << "<td style=\"background:"
          << (rej == of && of ? "#d4f4d4"
              : rej           ? "#fff3c4"
                              : "#f8d0d0")
          << "\">" << rej << " / " << of << "</td>";
      }
      o << "</tr>";
    }
    o << "</table>";
  }
  return o.str();
}

}  // namespace

Confusion policy_confusion(const ScanSummary& s, std::size_t policy) {
  Confusion c;
  for (const ScannedRound& r : s.rounds) {
    if (!r.ok || !r.has_ground_truth || !r.policies[policy].ok) continue;
    for (std::size_t i = 0; i < r.client_ids.size(); ++i) {
      const bool rej = !r.policies[policy].accepted[i], mal = r.malicious[i] != 0;
      if (mal) {
        ++(rej ? c.tp : c.fn);
      } else {
        ++(rej ? c.fp : c.tn);
      }
    }
  }
  return c;
}

nlohmann::json compare_policies(const ScanSummary& s) {
  const std::size_t P = s.policies.size();
  std::vector<std::vector<double>> same(P, std::vector<double>(P, 0)),
      total(P, std::vector<double>(P, 0));
  std::map<std::string, std::vector<std::pair<std::size_t, std::size_t>>>
      caught;  // id -> per policy (rej, of)
  std::vector<std::string> caught_order;
  for (const ScannedRound& r : s.rounds) {
    if (!r.ok) continue;
    for (std::size_t i = 0; i < r.client_ids.size(); ++i) {
      for (std::size_t a = 0; a < P; ++a) {
        for (std::size_t b = 0; b < P; ++b) {
          if (!r.policies[a].ok || !r.policies[b].ok) continue;
          total[a][b] += 1;
          same[a][b] += r.policies[a].accepted[i] == r.policies[b].accepted[i];
        }
      }
      if (r.has_ground_truth && r.malicious[i]) {
        auto [it, fresh] = caught.try_emplace(r.client_ids[i],
                                              std::vector<std::pair<std::size_t, std::size_t>>(P));
        if (fresh) caught_order.push_back(r.client_ids[i]);
        for (std::size_t a = 0; a < P; ++a) {
          if (!r.policies[a].ok) continue;
          ++it->second[a].second;
          if (!r.policies[a].accepted[i]) ++it->second[a].first;
        }
      }
    }
  }
  nlohmann::json out;
  out["policies"] = nlohmann::json::array();
  for (std::size_t a = 0; a < P; ++a) {
    nlohmann::json p = {{"name", s.policies[a].name}};
    if (s.has_ground_truth) {
      const Confusion c = policy_confusion(s, a);
      p["tpr"] = c.tpr();
      p["fpr"] = c.fpr();
      p["tp"] = c.tp, p["fp"] = c.fp, p["tn"] = c.tn, p["fn"] = c.fn;
    }
    out["policies"].push_back(p);
  }
  out["agreement"] = nlohmann::json::array();
  for (std::size_t a = 0; a < P; ++a) {
    nlohmann::json row = nlohmann::json::array();
    for (std::size_t b = 0; b < P; ++b)
      row.push_back(total[a][b] > 0 ? same[a][b] / total[a][b] : 0.0);
    out["agreement"].push_back(row);
  }
  out["caught"] = nlohmann::json::array();
  for (const std::string& id : caught_order) {
    nlohmann::json row = {{"client", id}, {"by_policy", nlohmann::json::array()}};
    for (std::size_t a = 0; a < P; ++a) {
      row["by_policy"].push_back({{"policy", s.policies[a].name},
                                  {"rejected", caught[id][a].first},
                                  {"malicious_rounds", caught[id][a].second}});
    }
    out["caught"].push_back(row);
  }
  return out;
}

std::string render_report(const ScanSummary& s) {
  const ClientIndex ci = index_clients(s);
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>fedguard scan: "
    << esc(s.log_dir)
    << "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1160px}"
       "table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px "
       "8px;font-size:13px;"
       "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
       ".plot{display:block;margin:8px 0;border:1px solid "
       "#ddd}.row{display:flex;flex-wrap:wrap;gap:8px}"
       ".bad{color:#b00}.note{color:#666;font-size:12px}h2{border-bottom:1px solid "
       "#ccc;padding-bottom:4px;"
       "margin-top:32px}</style></head><body>\n";
  std::size_t client_rounds = 0;
  for (const ScannedRound& r : s.rounds) client_rounds += r.ok ? r.n : 0;
  o << "<h1>fedguard scan</h1><table><tr><th>log</th><td>" << esc(s.log_dir)
    << "</td></tr><tr><th>rounds</th><td>" << s.rounds.size() << " (" << s.bad_rounds
    << " unreadable)</td></tr><tr><th>clients</th><td>" << ci.ids.size() << " distinct, "
    << client_rounds << " client-rounds</td></tr><tr><th>update data</th><td>"
    << fmt(s.bytes / 1e6, 4) << " MB in " << fmt(s.seconds, 3)
    << " s</td></tr><tr><th>ground truth</th><td>" << (s.has_ground_truth ? "yes" : "no")
    << "</td></tr><tr><th>fedguard</th><td>" << esc(version()) << "</td></tr></table>\n";

  // Policies and their headline numbers.
  o << "<h2>Policies</h2><table><tr><th>policy</th><th>detectors</th><th>rejected "
       "client-rounds</th>";
  if (s.has_ground_truth) o << "<th>TPR</th><th>FPR</th>";
  o << "<th>failed rounds</th></tr>";
  for (std::size_t k = 0; k < s.policies.size(); ++k) {
    std::size_t rejected = 0, failed = 0;
    for (const ScannedRound& r : s.rounds) {
      if (!r.ok) continue;
      if (!r.policies[k].ok) {
        ++failed;
        continue;
      }
      for (auto a : r.policies[k].accepted) rejected += !a;
    }
    std::string dets;
    for (const auto& d : s.policies[k].detectors) dets += (dets.empty() ? "" : ", ") + d;
    o << "<tr><td>" << esc(s.policies[k].name) << "</td><td>" << esc(dets) << "</td><td>"
      << rejected << "</td>";
    if (s.has_ground_truth) {
      const Confusion c = policy_confusion(s, k);
      o << "<td>" << pct(c.tpr()) << " (" << c.tp << "/" << c.tp + c.fn << ")</td><td>"
        << pct(c.fpr()) << " (" << c.fp << "/" << c.fp + c.tn << ")</td>";
    }
    o << "<td>" << failed << "</td></tr>";
  }
  o << "</table>\n";
  for (std::size_t k = 0; k < s.policies.size(); ++k) {
    o << "<details><summary>configuration of " << esc(s.policies[k].name) << "</summary><pre>"
      << esc(s.policies[k].config.dump(2)) << "</pre></details>\n";
  }

  if (s.bad_rounds > 0 || std::any_of(s.rounds.begin(), s.rounds.end(), [](const ScannedRound& r) {
        return !r.warnings.empty() ||
               std::any_of(r.policies.begin(), r.policies.end(),
                           [&](const PolicyRound& p) { return r.ok && !p.ok; });
      })) {
    o << "<h2>Problems</h2><table><tr><th>round</th><th>file</th><th>problem</th></tr>";
    for (const ScannedRound& r : s.rounds) {
      if (!r.ok)
        o << "<tr class=\"bad\"><td>" << r.round << "</td><td>" << esc(r.file) << "</td><td>"
          << esc(r.error) << "</td></tr>";
      for (const auto& w : r.warnings)
        o << "<tr><td>" << r.round << "</td><td>" << esc(r.file) << "</td><td>warning: " << esc(w)
          << "</td></tr>";
      for (std::size_t k = 0; r.ok && k < r.policies.size(); ++k) {
        if (!r.policies[k].ok)
          o << "<tr class=\"bad\"><td>" << r.round << "</td><td>" << esc(r.file) << "</td><td>"
            << esc(s.policies[k].name) << ": " << esc(r.policies[k].error) << "</td></tr>";
      }
    }
    o << "</table>\n";
  }

  for (std::size_t k = 0; k < s.policies.size(); ++k) {
    o << "<h2>Acceptance per round: " << esc(s.policies[k].name) << "</h2>\n"
      << acceptance_plot(s, k);
    o << decision_grid(s, k, ci);
    o << monitoring_section(s, k);
    if (s.has_ground_truth) {
      std::vector<std::pair<std::string, Roc>> table;
      const std::string roc = roc_plot(s, k, &table);
      o << "<h2>Detectors against ground truth: " << esc(s.policies[k].name)
        << "</h2><div class=\"row\">" << roc
        << "<div><table><tr><th>detector</th><th>AUC</th><th>direction</th>"
        << "<th>malicious / benign client-rounds</th></tr>";
      for (const auto& [det, r] : table) {
        o << "<tr><td>" << esc(det) << "</td><td><b>" << fmt(r.auc) << "</b></td><td>"
          << (higher_is_suspicious(det) ? "high = suspicious" : "low = suspicious") << "</td><td>"
          << r.positives << " / " << r.negatives << "</td></tr>";
      }
      o << "</table>";
      bool inverted = false;
      for (const auto& [det, r] : table)
        inverted = inverted || (std::isfinite(r.auc) && r.auc < 0.5);
      if (inverted) {
        o << "<p class=\"note\">An AUC below 0.5: that detector scores the malicious clients as "
             "<i>less</i> "
             "suspicious than the benign ones (an attack that hides in the centre of the benign "
             "updates, such "
             "as ALIE, does this to distance and spectral scores).</p>";
      }
      o << "</div></div>\n";
    }
    o << "<h2>Per-client score timelines: " << esc(s.policies[k].name) << "</h2>\n";
    if (s.policies[k].detectors.empty()) o << "<p>No detector scores.</p>";
    for (const std::string& det : s.policies[k].detectors) o << timeline_plot(s, k, det, ci);
    o << "<h2>Score distributions: " << esc(s.policies[k].name) << "</h2><div class=\"row\">";
    for (const std::string& det : s.policies[k].detectors) o << histogram(s, k, det);
    o << "</div>\n";
  }
  if (s.policies.size() > 1) o << comparison_section(s);
  o << "<h2>Layers</h2>\n" << layer_section(s);

  // The clients most often rejected by the first policy.
  auto stats = client_stats(s, 0);
  std::stable_sort(stats.begin(), stats.end(), [](const ClientStats& a, const ClientStats& b) {
    return a.times_rejected > b.times_rejected;
  });
  o << "<h2>Clients (" << esc(s.policies[0].name)
    << ", most rejected first; all in clients.csv)</h2><table><tr><th>client</th>"
       "<th>rounds seen</th><th>rejected</th><th>first rejection</th>";
  if (s.has_ground_truth) o << "<th>malicious rounds</th>";
  o << "</tr>";
  for (std::size_t i = 0; i < stats.size() && i < 50; ++i) {
    const ClientStats& c = stats[i];
    o << "<tr><td>" << esc(c.id) << "</td><td>" << c.rounds_seen << "</td><td>" << c.times_rejected
      << "</td><td>" << (c.rejected_ever ? std::to_string(c.first_rejection) : "") << "</td>";
    if (s.has_ground_truth) o << "<td>" << c.malicious_rounds << "</td>";
    o << "</tr>";
  }
  o << "</table><p class=\"note\">Generated by fedguard scan; self-contained (inline SVG, no "
       "scripts).</p></body></html>\n";
  return o.str();
}

}  // namespace fedguard::forensics
