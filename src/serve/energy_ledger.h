// The energy of every request, from meter readings taken at every step boundary.
//
// The engine loop reads the meter once per iteration, so time is cut into intervals that are
// either one step or idle. A step's energy (the accounted domains' readings differenced, or their
// power integrated) is divided among the requests in it in proportion to the tokens each computed
// in the step: a matrix product costs the same per column, and the products dominate a step
// (attention's dependence on context length is not modelled). A request's tokens of a prefill
// chunk are charged to its prefill, a decode token to its decode. Idle intervals go to the idle
// account. Request shares plus idle add up to the meter's energy over the same time, exactly for
// energy domains (the differences telescope) and to the trapezoid of the same readings for power
// domains.
//
// Accounted domains: the top-level domains ("gpu0", "package-0", "cpu"; not subzones such as
// "package-0/core", which their package already contains) of the best source present (counter,
// then sampled, then estimated): sources are never mixed.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "energy/sensor.h"

namespace joule::serve {

struct StepShare {
  uint64_t request_id = 0;
  int prefill_tokens = 0;
  int decode_tokens = 0;
};

struct EnergyAccount {
  double prefill_j = 0;
  double decode_j = 0;
  double active_s = 0;  // the durations of the steps the request was in
  double energy_j() const { return prefill_j + decode_j; }
};

class EnergyLedger {
 public:
  explicit EnergyLedger(const std::vector<energy::DomainInfo>& domains);

  bool on() const { return !accounted_.empty(); }
  energy::Source source() const { return source_; }
  const std::vector<std::string>& domain_names() const { return names_; }

  // The energy of the accounted domains since the previous reading (0 at the first: it sets the
  // origin). `r` has one reading per meter domain; a domain missing a value carries over to the
  // next reading that has one.
  double advance(double t_s, std::span<const energy::Reading> r);

  void charge_step(double energy_j, double duration_s, std::span<const StepShare> shares);
  void charge_idle(double energy_j) { idle_j_ += energy_j; }

  // The request's account, removed (zero if it was never charged).
  EnergyAccount take(uint64_t request_id);

  double idle_j() const { return idle_j_; }
  double charged_j() const { return charged_j_; }  // to requests, taken or not
  double total_j() const { return idle_j_ + charged_j_; }
  double last_power_w() const { return last_power_w_; }  // over the last interval

 private:
  struct Domain {
    size_t index = 0;  // in the meter's domains
    bool energy = false;  // an energy reading; else power integrated
    bool have = false;
    double last = 0;    // energy_j, or power_w
    double last_t = 0;  // for power
  };
  std::vector<Domain> accounted_;
  std::vector<std::string> names_;
  energy::Source source_ = energy::Source::kEstimated;
  std::unordered_map<uint64_t, EnergyAccount> accounts_;
  double idle_j_ = 0;
  double charged_j_ = 0;
  double last_t_ = 0;
  bool started_ = false;
  double last_power_w_ = 0;
};

}  // namespace joule::serve
