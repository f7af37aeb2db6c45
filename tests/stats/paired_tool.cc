// Reads item outcomes of two configurations as JSON on stdin ({"confidence": c, "base": [...],
// "other": [...]}, items as {"id", "score", "cluster"}) and prints joule's paired difference as JSON,
// for tests/stats/paired_reference.py to compare with statsmodels.
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "metrics/paired.h"

int main() {
  const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  const nlohmann::json in = nlohmann::json::parse(text);
  auto items = [](const nlohmann::json& a) {
    std::vector<joule::metrics::ItemOutcome> out;
    for (const auto& x : a) out.push_back({x.at("id"), x.at("score"), x.value("cluster", ""), -1, std::nullopt, std::nullopt});
    return out;
  };
  const double confidence = in.at("confidence");
  const auto d = joule::metrics::paired_difference(items(in.at("base")), items(in.at("other")), confidence);
  if (!d.ok()) {
    std::cerr << d.status().message() << "\n";
    return 1;
  }
  std::cout << nlohmann::json{{"n", d->n},          {"mean_diff", d->mean_diff}, {"std_err", d->std_err},
                              {"clusters", d->clusters}, {"ci_low", d->ci_low},  {"ci_high", d->ci_high},
                              {"better", d->better}, {"worse", d->worse},
                              {"z", joule::metrics::normal_quantile_two_sided(confidence)}}
                   .dump()
            << "\n";
  return 0;
}
