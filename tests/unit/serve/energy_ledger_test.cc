// The per-request energy split: which domains are accounted, differencing and integration, the
// division of a step by tokens, and that shares plus idle add up to what was measured.
#include "serve/energy_ledger.h"

#include <gtest/gtest.h>

namespace joule::serve {
namespace {

using energy::DomainInfo;
using energy::Reading;
using energy::Source;

DomainInfo domain(std::string name, Source s, bool energy, bool power = false) {
  return DomainInfo{.name = std::move(name), .description = "", .source = s, .has_energy = energy,
                    .has_power = power, .power_note = ""};
}

TEST(EnergyLedger, AccountsTopLevelDomainsOfTheBestSource) {
  EnergyLedger l({domain("cpu", Source::kEstimated, true), domain("package-0", Source::kCounter, true),
                  domain("package-0/core", Source::kCounter, true), domain("gpu0", Source::kCounter, true, true)});
  EXPECT_TRUE(l.on());
  EXPECT_EQ(l.source(), Source::kCounter);
  EXPECT_EQ(l.domain_names(), (std::vector<std::string>{"package-0", "gpu0"}));
  EXPECT_FALSE(EnergyLedger({}).on());
  EnergyLedger est({domain("cpu", Source::kEstimated, true)});
  EXPECT_EQ(est.source(), Source::kEstimated);
}

TEST(EnergyLedger, DividesAStepByTokensIntoPrefillAndDecode) {
  EnergyLedger l({domain("package-0", Source::kCounter, true), domain("package-0/dram", Source::kCounter, true)});
  std::vector<Reading> r(2);
  r[0].energy_j = 100;
  r[1].energy_j = 7;
  EXPECT_EQ(l.advance(0.0, r), 0);  // the origin
  r[0].energy_j = 130;              // 30 J in the step; the subzone is not counted
  r[1].energy_j = 9;
  const double e = l.advance(1.0, r);
  EXPECT_DOUBLE_EQ(e, 30);
  const StepShare shares[] = {{.request_id = 1, .prefill_tokens = 8, .decode_tokens = 0},
                              {.request_id = 2, .prefill_tokens = 0, .decode_tokens = 1},
                              {.request_id = 3, .prefill_tokens = 0, .decode_tokens = 1}};
  l.charge_step(e, 1.0, shares);
  r[0].energy_j = 140;  // 10 J idle
  l.charge_idle(l.advance(2.0, r));
  const EnergyAccount a = l.take(1), b = l.take(2), c = l.take(3);
  EXPECT_DOUBLE_EQ(a.prefill_j, 24);
  EXPECT_DOUBLE_EQ(a.decode_j, 0);
  EXPECT_DOUBLE_EQ(b.decode_j, 3);
  EXPECT_DOUBLE_EQ(c.energy_j(), 3);
  EXPECT_DOUBLE_EQ(a.active_s, 1.0);
  EXPECT_DOUBLE_EQ(l.idle_j(), 10);
  EXPECT_DOUBLE_EQ(l.charged_j(), 30);
  EXPECT_DOUBLE_EQ(l.total_j(), 140 - 100);
  EXPECT_DOUBLE_EQ(l.last_power_w(), 10);
  EXPECT_EQ(l.take(1).energy_j(), 0);  // taken once
}

TEST(EnergyLedger, IntegratesPowerWhereThereIsNoCounter) {
  EnergyLedger l({domain("gpu0", Source::kSampled, false, true)});
  std::vector<Reading> r(1);
  r[0].power_w = 100;
  l.advance(0.0, r);
  r[0].power_w = 200;
  EXPECT_DOUBLE_EQ(l.advance(0.5, r), 75);  // trapezoid
  r[0].power_w.reset();                     // a failed reading carries over
  EXPECT_DOUBLE_EQ(l.advance(1.0, r), 0);
  r[0].power_w = 200;
  EXPECT_DOUBLE_EQ(l.advance(1.5, r), 200);
}

TEST(EnergyLedger, AStepThatComputedNothingIsIdle) {
  EnergyLedger l({domain("cpu", Source::kEstimated, true)});
  l.charge_step(5, 0.1, {});
  EXPECT_DOUBLE_EQ(l.idle_j(), 5);
  EXPECT_DOUBLE_EQ(l.charged_j(), 0);
}

}  // namespace
}  // namespace joule::serve
