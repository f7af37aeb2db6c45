// Energy-efficiency figures of an evaluation (the research's definitions). Energy in joules is
// converted to watt-hours (1 Wh = 3600 J) before dividing, as the research reports them.
#pragma once

namespace joule::metrics {

// EOR = score / energy (Wh). score in [0, 1] (or in points, as reported); energy_j > 0.
double eor(double score, double energy_j);
// TWEOR = score / (energy (Wh) x time (s)).
double tweor(double score, double energy_j, double seconds);
// Emissions in grams of CO2-equivalent: energy (kWh) x PUE x grid intensity (g/kWh).
double co2e_g(double energy_j, double grid_g_per_kwh, double pue);
// Relative change in percent: 100 * (value / baseline - 1).
double change_pct(double value, double baseline);

}  // namespace joule::metrics
