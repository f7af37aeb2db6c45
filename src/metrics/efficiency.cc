#include "metrics/efficiency.h"

namespace joule::metrics {

double eor(double score, double energy_j) { return score / (energy_j / 3600.0); }

double tweor(double score, double energy_j, double seconds) {
  return score / ((energy_j / 3600.0) * seconds);
}

double co2e_g(double energy_j, double grid_g_per_kwh, double pue) { return energy_j / 3.6e6 * pue * grid_g_per_kwh; }

double change_pct(double value, double baseline) { return 100.0 * (value / baseline - 1.0); }

}  // namespace joule::metrics
