#include "metrics/efficiency.h"

namespace joule::metrics {

double eor(double score, double energy_j) { return score / (energy_j / 3600.0); }

double tweor(double score, double energy_j, double seconds) {
  return score / ((energy_j / 3600.0) * seconds);
}

double change_pct(double value, double baseline) { return 100.0 * (value / baseline - 1.0); }

}  // namespace joule::metrics
