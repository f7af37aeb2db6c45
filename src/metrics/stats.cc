#include "metrics/stats.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace joule::metrics {

double mean(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return x.empty() ? 0 : s / static_cast<double>(x.size());
}

double median(std::vector<double> x) {
  if (x.empty()) return 0;
  std::sort(x.begin(), x.end());
  const size_t n = x.size();
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

double percentile(std::vector<double> x, double p) {
  if (x.empty()) return 0;
  std::sort(x.begin(), x.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * double(x.size() - 1);
  const size_t lo = size_t(rank);
  const size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (rank - double(lo)) * (x[hi] - x[lo]);
}

double stdev(const std::vector<double>& x) {
  if (x.size() < 2) return 0;
  const double m = mean(x);
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

double mean_stderr(const std::vector<double>& x) {
  return stdev(x) / std::sqrt(static_cast<double>(x.empty() ? 1 : x.size()));
}

double bootstrap_stderr(const std::vector<double>& x,
                        const std::function<double(const std::vector<double>&)>& statistic,
                        int resamples, uint64_t seed) {
  if (x.size() < 2 || resamples < 2) return 0;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, x.size() - 1);
  std::vector<double> sample(x.size()), stats;
  stats.reserve(static_cast<size_t>(resamples));
  for (int r = 0; r < resamples; ++r) {
    for (double& v : sample) v = x[pick(rng)];
    stats.push_back(statistic(sample));
  }
  return stdev(stats);
}

}  // namespace joule::metrics
