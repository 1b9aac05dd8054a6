// Mimic.
// Karimireddy, He, Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets via Bucketing",
// ICLR 2022.
//
// Every malicious client sends an exact copy of one benign client's update, over-representing
// that client's (non-IID) data so that robust rules drift towards it and away from the rest.
// The paper picks the target i* to maximise the variance along the top principal direction of the
// benign updates: z = top eigenvector of their covariance, i* = argmax_i |<x_i - mu, z>|. Here
// that is computed exactly each round from the centred Gram matrix of the benign updates (float64;
// <x_i - mu, z> is proportional to the i-th entry of the Gram matrix's top eigenvector); ties go to
// the lower index.
//
// Departure: the paper estimates z online over a warm-up phase and then keeps i* fixed for the rest
// of training. A stateless call cannot remember; record info["index"] from the first round(s) and
// pass it back as `index` to reproduce the paper's fixed target.
// Knowledge: the benign updates.
//
// Parameters:
//   index  fixed target (a benign row, 0 <= index < n_benign); default: the choice above.
// info: index, chosen_by ("top_direction" or "param").
#include <cmath>
#include <cstring>

#include "attacks/attack.h"
#include "fedguard/error.h"
#include "geometry/spectral.h"

namespace fedguard::attacks {

AttackOutput mimic(Params& p, const AttackInput& in) {
  const bool fixed = p.has("index");
  const std::size_t index_param = p.count("index", 0);
  p.finish();
  validate("mimic", in, Needs{1, false, false});
  FEDGUARD_EXPECTS(!fixed || index_param < in.n_benign,
                   "attack 'mimic': parameter 'index'="
                       << index_param << " is not a benign row (n_benign=" << in.n_benign << ")");
  std::size_t index = index_param;
  if (!fixed && in.n_benign > 1) {
    const BenignSummary s = summarise_benign(in, {});
    const geometry::EigenPairs top = geometry::top_eigenpairs(s.gram, s.n, 1);
    double best = -1;
    for (std::size_t i = 0; i < s.n; ++i) {
      const double v = std::abs(top.vectors[i]);
      if (v > best) {
        best = v;
        index = i;
      }
    }
  }
  AttackOutput out = make_output(in);
  out.info["index"] = index;
  out.info["chosen_by"] = fixed ? "param" : "top_direction";
  for (std::size_t i = 0; i < in.n_malicious; ++i)
    std::memcpy(out.updates.data() + i * in.d, in.benign + index * in.d, in.d * sizeof(float));
  return out;
}

}  // namespace fedguard::attacks
