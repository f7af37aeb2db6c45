// Statistics for reported scores: means with their standard error, and bootstrap standard errors
// for aggregates that are not plain means (macro averages, MC2).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace joule::metrics {

double mean(const std::vector<double>& x);
// The middle value (the mean of the two middle values for an even count); 0 for none.
double median(std::vector<double> x);
// The p-th percentile (0-100) with linear interpolation between closest ranks (numpy's default,
// which vLLM's benchmarks use); 0 for none.
double percentile(std::vector<double> x, double p);
// Sample standard deviation (n - 1); 0 for fewer than 2 values.
double stdev(const std::vector<double>& x);
// Standard error of the mean, sqrt(sample variance / n) (lm-evaluation-harness's mean_stderr);
// 0 for fewer than 2 values.
double mean_stderr(const std::vector<double>& x);
// Standard deviation of `statistic` over `resamples` resamples of x drawn with replacement
// (seeded: the same inputs give the same result).
double bootstrap_stderr(const std::vector<double>& x,
                        const std::function<double(const std::vector<double>&)>& statistic,
                        int resamples = 1000, uint64_t seed = 1234);

}  // namespace joule::metrics
