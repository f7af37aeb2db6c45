#include "metrics/paired.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "metrics/stats.h"

namespace joule::metrics {

double normal_quantile_two_sided(double confidence) {
  // The inverse normal CDF at p = (1 + confidence) / 2: Acklam's rational approximation (relative
  // error 1.15e-9), then one Halley step on erfc, which makes it exact to double rounding.
  const double p = 0.5 * (1 + confidence);
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                 1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                 6.680131188771972e+01,  -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                 -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                 3.754408661907416e+00};
  double x;
  if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {  // p >= 0.5 here
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

Expected<PairedDifference> paired_difference(const std::vector<ItemOutcome>& base, const std::vector<ItemOutcome>& other,
                                             double confidence) {
  if (!(confidence > 0 && confidence < 1)) return InvalidArgument("confidence must be in (0, 1)");
  std::unordered_map<std::string, const ItemOutcome*> by_id;
  for (const ItemOutcome& s : base)
    if (!by_id.emplace(s.id, &s).second) return InvalidArgument("item '" + s.id + "' appears twice in the baseline");
  std::unordered_set<std::string> seen;
  std::vector<double> diff;
  std::vector<std::string> cluster;
  PairedDifference out;
  for (const ItemOutcome& s : other) {
    if (!seen.insert(s.id).second) return InvalidArgument("item '" + s.id + "' appears twice");
    const auto it = by_id.find(s.id);
    if (it == by_id.end()) continue;
    const double d = s.score - it->second->score;
    diff.push_back(d);
    out.better += d > 0;
    out.worse += d < 0;
    // An item takes the baseline's cluster: both sides score the same items of the same dataset.
    cluster.push_back(it->second->cluster.empty() ? "\x1f" + s.id : it->second->cluster);
  }
  out.n = int(diff.size());
  if (out.n < 2) return InvalidArgument("fewer than 2 items were scored by both configurations");
  out.mean_diff = mean(diff);
  const bool clustered = std::any_of(base.begin(), base.end(), [](const ItemOutcome& s) { return !s.cluster.empty(); });
  if (clustered) {
    std::map<std::string, double> residual_sum;
    for (size_t i = 0; i < diff.size(); ++i) residual_sum[cluster[i]] += diff[i] - out.mean_diff;
    double ss = 0;
    for (const auto& [c, r] : residual_sum) ss += r * r;
    out.std_err = std::sqrt(ss) / out.n;
    out.clusters = int(residual_sum.size());
  } else {
    out.std_err = mean_stderr(diff);
    out.clusters = out.n;
  }
  out.confidence = confidence;
  const double half = normal_quantile_two_sided(confidence) * out.std_err;
  out.ci_low = out.mean_diff - half;
  out.ci_high = out.mean_diff + half;
  return out;
}

int items_to_decide(int n, double mean, double std_err, double confidence, double threshold) {
  const double gap = std::abs(mean - threshold);
  if (gap == 0) return -1;
  const double half = normal_quantile_two_sided(confidence) * std_err;
  const double needed = std::ceil(double(n) * (half / gap) * (half / gap));
  return needed > double(std::numeric_limits<int>::max()) ? std::numeric_limits<int>::max() : int(needed);
}

}  // namespace joule::metrics
