// Model replacement (scaling).
// Bagdasaryan, Veit, Hua, Estrin, Shmatikov, "How To Backdoor Federated Learning", AISTATS 2020.
//
// The attacker submits X' = gamma (X - G) + G, X its backdoored model and G the global model, so
// that with federated averaging G + (eta / n) sum_i (L_i - G) the backdoored model replaces the
// global one; gamma = n / eta. In update space (what fedguard aggregates) the malicious update is
// gamma * own_i, own_i = X_i - G the update malicious client i trained on its poisoned data.
// Knowledge: n and the server learning rate eta.
//
// Parameters:
//   gamma  explicit boost factor; overrides the formula.
//   eta    the server's global learning rate in G + (eta/n) sum (L_i - G); default 1, i.e.
//          plain FedAvg, which gives gamma = n_total (clients of the round). The paper also
//          notes a smaller gamma trades replacement accuracy for stealth (norm-bound defenses);
//          pass `gamma` for that.
// Needs `own` (n_malicious x d).
// info: gamma, eta.
#include "attacks/attack.h"

namespace fedguard::attacks {

AttackOutput scaling(Params& p, const AttackInput& in) {
  const bool explicit_gamma = p.has("gamma");
  const double gamma_param = p.number("gamma", 0.0);
  const double eta = p.positive("eta", 1.0);
  p.finish();
  const std::size_t n = validate("scaling", in, Needs{0, true, false});
  const double gamma = explicit_gamma ? gamma_param : static_cast<double>(n) / eta;
  AttackOutput out = make_output(in);
  out.info["gamma"] = gamma;
  out.info["eta"] = eta;
  std::size_t clamped = 0;
  for (std::size_t i = 0; i < in.n_malicious * in.d; ++i)
    out.updates[i] = to_float(gamma * static_cast<double>(in.own[i]), &clamped);
  out.info["clamped"] = clamped;
  return out;
}

}  // namespace fedguard::attacks
