// Reputation filter.
// Not from one paper: a per-client exponential moving average of the other filters' verdicts,
// the mechanism behind reputation-based aggregation schemes (e.g. the reputation of
// Xu & Lyu, "A Reputation Mechanism Is All You Need: Collaborative Fairness and Adversarial
// Robustness in Federated Learning", 2021, which feeds it from gradient similarity).
// The engine keeps r per client id across rounds (EngineConfig::reputation: decay [0.9],
// initial [1.0]); each round a client takes part in, r <- decay r + (1 - decay) o, with o = 0
// when an input check or a filter that does not read the reputation (every filter but this
// one) rejected it and o = 1 when every such filter judged and kept it. This filter rejects a
// client whose reputation before the round is below `min`, once it has taken part in `min_rounds`
// rounds. Parameters: min [0.5], min_rounds [0]. Its traits (rules/registry.cc) say it reads the
// reputation, which keeps its own verdicts out of it, and that it must be the last filter in
// intersect mode (checked), so that a client it rejects is still judged by the other filters and
// can earn its reputation back.
#include "common/short_number.h"
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class Reputation final : public Rule {
 public:
  explicit Reputation(const RuleSpec& spec) {
    Params p(spec);
    min_ = p.number("min", 0.5, 0.0);
    FEDGUARD_EXPECTS(min_ <= 1.0, "reputation: min must be in [0, 1], got " << min_);
    min_rounds_ = p.count("min_rounds", 0, kMaxRounds);
    p.finish();
  }
  std::string name() const override { return "reputation"; }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    FEDGUARD_EXPECTS(round.memory != nullptr, "reputation: the engine passed no client memory");
    FEDGUARD_EXPECTS(c.plain(),
                     "reputation must run on untransformed updates (put it among the filters)");
    const ClientMemory& mem = *round.memory;
    Verdict v;
    v.score_name = "";  // the engine reports the updated reputation as the score `reputation`
    v.score.assign(c.size(), 0.0);
    v.keep.assign(c.size(), 1);
    v.reason.assign(c.size(), "");
    for (std::size_t p = 0; p < c.size(); ++p) {
      const std::size_t o = c.owner[p];
      if (mem.rounds_seen[o] < min_rounds_ || mem.reputation[o] >= min_) continue;
      v.keep[p] = 0;
      v.reason[p] = "reputation: " + short_number(mem.reputation[o]) + " below " +
                    short_number(min_) + " after " + std::to_string(mem.rounds_seen[o]) + " rounds";
    }
    return v;
  }

 private:
  double min_ = 0.5;
  std::size_t min_rounds_ = 0;
};

}  // namespace

std::unique_ptr<Rule> make_reputation(const RuleSpec& spec) {
  return std::make_unique<Reputation>(spec);
}

}  // namespace fedguard::rules
