#include "serve/energy_ledger.h"

#include <algorithm>

namespace joule::serve {
namespace {

int source_rank(energy::Source s) {  // lower is better
  switch (s) {
    case energy::Source::kCounter: return 0;
    case energy::Source::kSampled: return 1;
    case energy::Source::kEstimated: return 2;
  }
  return 3;
}

}  // namespace

EnergyLedger::EnergyLedger(const std::vector<energy::DomainInfo>& domains) {
  int best = 3;
  for (const energy::DomainInfo& d : domains)
    if ((d.has_energy || d.has_power) && d.name.find('/') == std::string::npos)
      best = std::min(best, source_rank(d.source));
  for (size_t i = 0; i < domains.size(); ++i) {
    const energy::DomainInfo& d = domains[i];
    if (!(d.has_energy || d.has_power) || d.name.find('/') != std::string::npos || source_rank(d.source) != best)
      continue;
    accounted_.push_back({.index = i, .energy = d.has_energy});
    names_.push_back(d.name);
    source_ = d.source;
  }
}

double EnergyLedger::advance(double t_s, std::span<const energy::Reading> r) {
  double sum_j = 0;
  for (Domain& d : accounted_) {
    if (d.index >= r.size()) continue;
    const std::optional<double>& v = d.energy ? r[d.index].energy_j : r[d.index].power_w;
    if (!v) continue;
    if (d.have) sum_j += d.energy ? *v - d.last : 0.5 * (*v + d.last) * (t_s - d.last_t);
    d.have = true;
    d.last = *v;
    d.last_t = t_s;
  }
  const double dt = started_ ? t_s - last_t_ : 0;
  last_power_w_ = dt > 0 ? sum_j / dt : last_power_w_;
  last_t_ = t_s;
  started_ = true;
  return sum_j;
}

void EnergyLedger::charge_step(double energy_j, double duration_s, std::span<const StepShare> shares) {
  int64_t tokens = 0;
  for (const StepShare& s : shares) tokens += s.prefill_tokens + s.decode_tokens;
  if (tokens == 0) {  // a step that computed nothing for anyone is idle time
    idle_j_ += energy_j;
    return;
  }
  for (const StepShare& s : shares) {
    EnergyAccount& a = accounts_[s.request_id];
    a.prefill_j += energy_j * double(s.prefill_tokens) / double(tokens);
    a.decode_j += energy_j * double(s.decode_tokens) / double(tokens);
    a.active_s += duration_s;
  }
  charged_j_ += energy_j;
}

EnergyAccount EnergyLedger::take(uint64_t request_id) {
  auto it = accounts_.find(request_id);
  if (it == accounts_.end()) return {};
  EnergyAccount a = it->second;
  accounts_.erase(it);
  return a;
}

}  // namespace joule::serve
