// PCA outlier filter: a training-free analogue of spectral anomaly detection.
// Li, Wang, Gu, Huang, Xiao, "Learning to Detect Malicious Clients for Robust Federated
// Learning", arXiv:2002.00211, 2020, scores clients by the reconstruction error of a
// variational auto-encoder trained on low-dimensional surrogates of the updates. Without
// training data, the linear analogue is principal component analysis of the round itself,
// which the re-centred Gram matrix gives exactly: with (l_j, u_j) its top-k eigenpairs,
//   principal scores        t_ij = sqrt(l_j) u_ij
//   residual                r_i  = ||x_i - mean||^2 - sum_j t_ij^2
//   Mahalanobis (top-k)     m_i  = sum_j t_ij^2 / (l_j / (n - 1)) = (n - 1) sum_j u_ij^2
// Each is turned into a robust z-score (x - median) / (1.4826 MAD) [Iglewicz & Hoaglin's
// modified z-score; mean absolute deviation x 1.2533 when MAD = 0], and a client is rejected when
// either exceeds z. Parameters: k [2] components (at most n - 2), z [3.5]. One-sided: only
// large residuals and distances are suspicious. Score: the larger of the two z-scores.
#include <algorithm>
#include <cmath>

#include "common/short_number.h"
#include "fedguard/error.h"
#include "geometry/spectral.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

std::vector<double> robust_z(const std::vector<double>& x) {
  const double med = median_of(x);
  std::vector<double> dev(x.size());
  double mean_abs = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    dev[i] = std::abs(x[i] - med);
    mean_abs += dev[i] / static_cast<double>(x.size());
  }
  double scale = 1.4826 * median_of(dev);
  if (!(scale > 0)) scale = 1.2533 * mean_abs;
  std::vector<double> z(x.size(), 0.0);
  if (scale > 0)
    for (std::size_t i = 0; i < x.size(); ++i) z[i] = (x[i] - med) / scale;
  return z;
}

class PcaOutlier final : public Rule {
 public:
  explicit PcaOutlier(const RuleSpec& spec) {
    Params p(spec);
    k_ = p.count("k", 2, kMaxClientCount);
    z_ = p.number("z", 3.5, 0.0);
    p.finish();
    FEDGUARD_EXPECTS(k_ >= 1, "rule 'pca_outlier': k must be >= 1");
  }
  std::string name() const override { return "pca_outlier"; }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n >= k_ + 2, "pca_outlier with k=" << k_ << " needs n >= k+2 = " << k_ + 2
                                                        << " clients, got n=" << n << " "
                                                        << round.losses);
    const std::vector<double> kc = geometry::double_centred(c.centred_gram(round.space), n);
    const geometry::EigenPairs top = geometry::top_eigenpairs(kc, n, k_);
    std::vector<double> residual(n), mahalanobis(n, 0.0);
    const double tiny = 1e-12 * std::max(top.values[0], 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      double explained = 0;
      for (std::size_t j = 0; j < k_; ++j) {
        const double u = top.vectors[i * k_ + j];
        explained += std::max(top.values[j], 0.0) * u * u;
        if (top.values[j] > tiny) mahalanobis[i] += static_cast<double>(n - 1) * u * u;
      }
      residual[i] = std::max(0.0, kc[i * n + i] - explained);
    }
    const std::vector<double> zr = robust_z(residual), zm = robust_z(mahalanobis);
    Verdict v;
    v.score_name = "pca_outlier";
    v.score.resize(n);
    v.keep.assign(n, 1);
    v.reason.assign(n, "");
    for (std::size_t i = 0; i < n; ++i) {
      v.score[i] = std::max(zr[i], zm[i]);
      if (zr[i] > z_) {
        v.keep[i] = 0;
        v.reason[i] =
            "pca_outlier: residual z-score " + short_number(zr[i]) + " above " + short_number(z_);
      } else if (zm[i] > z_) {
        v.keep[i] = 0;
        v.reason[i] = "pca_outlier: Mahalanobis z-score " + short_number(zm[i]) + " above " +
                      short_number(z_);
      }
    }
    return v;
  }

 private:
  std::size_t k_;
  double z_;
};

}  // namespace

std::unique_ptr<Rule> make_pca_outlier(const RuleSpec& spec) {
  return std::make_unique<PcaOutlier>(spec);
}

}  // namespace fedguard::rules
