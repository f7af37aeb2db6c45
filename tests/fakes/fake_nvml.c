/* A fake libnvidia-ml.so.1 for joule's tests: it exports the real NVML symbol names and replays
 * a scripted trace, so the real dlopen/dlsym path is exercised without a GPU.
 *
 * The script is the file named by JOULE_FAKE_NVML_SCRIPT, one directive per line:
 *   devices N               number of GPUs (default 1)
 *   name TEXT               device name
 *   init_error CODE         nvmlInit_v2 fails with CODE
 *   energy unsupported      nvmlDeviceGetTotalEnergyConsumption -> NOT_SUPPORTED (pre-Volta)
 *   power error CODE        nvmlDeviceGetPowerUsage fails with CODE
 *   power_avg_s S           power reads as the average of the last S seconds (Ampere+: 1 s)
 *   step T W                from T seconds after nvmlInit_v2 the GPU draws W watts
 *   limit CUR MIN MAX DEF   power limit and its range, W
 *   state_file PATH         every limit / clock change is written there ("limit_mw=.. locked=..")
 *   clocks MIN MAX STEP     supported graphics clocks, MHz (default 210 1980 15, an H100's)
 * Energy is the exact integral of the steps (the counter path is exact by construction). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STEPS 64
typedef int nvmlReturn_t;
typedef void* nvmlDevice_t;
typedef struct { unsigned gpu, memory; } nvmlUtilization_t;

static struct {
  int devices, init_error, energy_unsupported, power_error;
  double power_avg_s;
  int n_steps;
  double step_t[MAX_STEPS], step_w[MAX_STEPS];
  unsigned limit_mw, min_mw, max_mw, default_mw;
  char name[96], state_file[512];
  double t0;
  unsigned locked_min, locked_max;
  unsigned clock_min, clock_max, clock_step;
} g;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void load_script(void) {
  memset(&g, 0, sizeof(g));
  g.devices = 1;
  g.limit_mw = 300000, g.min_mw = 100000, g.max_mw = 400000, g.default_mw = 350000;
  strcpy(g.name, "Fake NVIDIA GPU");
  g.clock_min = 210, g.clock_max = 1980, g.clock_step = 15;
  const char* path = getenv("JOULE_FAKE_NVML_SCRIPT");
  FILE* f = path ? fopen(path, "r") : NULL;
  if (!f) return;
  char line[600];
  while (fgets(line, sizeof line, f)) {
    double a, b, c, d;
    char word[32];
    line[strcspn(line, "\n")] = 0;
    if (sscanf(line, "devices %lf", &a) == 1) g.devices = (int)a;
    else if (strncmp(line, "name ", 5) == 0) snprintf(g.name, sizeof g.name, "%s", line + 5);
    else if (sscanf(line, "init_error %lf", &a) == 1) g.init_error = (int)a;
    else if (strcmp(line, "energy unsupported") == 0) g.energy_unsupported = 1;
    else if (sscanf(line, "power error %lf", &a) == 1) g.power_error = (int)a;
    else if (sscanf(line, "power_avg_s %lf", &a) == 1) g.power_avg_s = a;
    else if (sscanf(line, "step %lf %lf", &a, &b) == 2 && g.n_steps < MAX_STEPS) {
      g.step_t[g.n_steps] = a;
      g.step_w[g.n_steps++] = b;
    } else if (sscanf(line, "limit %lf %lf %lf %lf", &a, &b, &c, &d) == 4) {
      g.limit_mw = (unsigned)(a * 1e3), g.min_mw = (unsigned)(b * 1e3);
      g.max_mw = (unsigned)(c * 1e3), g.default_mw = (unsigned)(d * 1e3);
    } else if (sscanf(line, "clocks %lf %lf %lf", &a, &b, &c) == 3) {
      g.clock_min = (unsigned)a, g.clock_max = (unsigned)b, g.clock_step = (unsigned)c;
    } else if (sscanf(line, "state_file %31s", word) == 1) {
      snprintf(g.state_file, sizeof g.state_file, "%s", line + 11);
    }
  }
  fclose(f);
}

static void write_state(void) {
  if (!g.state_file[0]) return;
  FILE* f = fopen(g.state_file, "w");
  if (!f) return;
  if (g.locked_max) fprintf(f, "limit_mw=%u locked=%u-%u\n", g.limit_mw, g.locked_min, g.locked_max);
  else fprintf(f, "limit_mw=%u locked=none\n", g.limit_mw);
  fclose(f);
}

/* Joules drawn from init to t seconds after it. */
static double energy_j(double t) {
  double e = 0;
  for (int i = 0; i < g.n_steps; ++i) {
    const double a = g.step_t[i], b = i + 1 < g.n_steps ? g.step_t[i + 1] : 1e30;
    if (t > a) e += g.step_w[i] * ((t < b ? t : b) - a);
  }
  return e;
}

static double power_w(double t) {
  if (g.power_avg_s <= 0) {
    double w = 0;
    for (int i = 0; i < g.n_steps; ++i)
      if (t >= g.step_t[i]) w = g.step_w[i];
    return w;
  }
  const double t0 = t > g.power_avg_s ? t - g.power_avg_s : 0;
  return t > t0 ? (energy_j(t) - energy_j(t0)) / (t - t0) : 0;
}

static int device_index(nvmlDevice_t d) {
  const long i = (long)(size_t)d - 1;
  return i >= 0 && i < g.devices ? (int)i : -1;
}

nvmlReturn_t nvmlInit_v2(void) {
  load_script();
  g.t0 = now_s();
  return g.init_error;
}
nvmlReturn_t nvmlShutdown(void) { return 0; }
const char* nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case 0: return "Success";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 9: return "Driver Not Loaded";
    default: return "Unknown Error";
  }
}
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned* n) {
  *n = (unsigned)g.devices;
  return 0;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t* d) {
  if ((int)i >= g.devices) return 2;
  *d = (nvmlDevice_t)(size_t)(i + 1);
  return 0;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char* name, unsigned len) {
  if (device_index(d) < 0) return 2;
  snprintf(name, len, "%s", g.name);
  return 0;
}
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long* mj) {
  if (device_index(d) < 0) return 2;
  if (g.energy_unsupported) return 3;
  *mj = 5000000ULL + (unsigned long long)(energy_j(now_s() - g.t0) * 1e3);  /* nonzero at init */
  return 0;
}
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned* mw) {
  if (device_index(d) < 0) return 2;
  if (g.power_error) return g.power_error;
  *mw = (unsigned)(power_w(now_s() - g.t0) * 1e3);
  return 0;
}
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned* c) {
  (void)sensor;
  if (device_index(d) < 0) return 2;
  *c = 40 + (unsigned)(power_w(now_s() - g.t0) / 10);
  return 0;
}
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned* mhz) {
  if (device_index(d) < 0) return 2;
  *mhz = type == 2 ? 2619 : 1980;
  return 0;
}
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t* u) {
  if (device_index(d) < 0) return 2;
  u->gpu = power_w(now_s() - g.t0) > 100 ? 100 : 0;
  u->memory = u->gpu / 2;
  return 0;
}
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d, unsigned long long* r) {
  if (device_index(d) < 0) return 2;
  const double w = power_w(now_s() - g.t0);
  *r = w * 1e3 >= g.limit_mw ? 0x4ULL : (w < 100 ? 0x1ULL : 0);
  return 0;
}
nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t d, unsigned* mw) {
  if (device_index(d) < 0) return 2;
  *mw = g.limit_mw;
  return 0;
}
nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t d, unsigned* mw) {
  if (device_index(d) < 0) return 2;
  *mw = g.default_mw;
  return 0;
}
nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t d, unsigned* lo, unsigned* hi) {
  if (device_index(d) < 0) return 2;
  *lo = g.min_mw;
  *hi = g.max_mw;
  return 0;
}
nvmlReturn_t nvmlDeviceSetPowerManagementLimit(nvmlDevice_t d, unsigned mw) {
  if (device_index(d) < 0 || mw < g.min_mw || mw > g.max_mw) return 2;
  g.limit_mw = mw;
  write_state();
  return 0;
}
/* As NVML: count in, count out; INSUFFICIENT_SIZE (7) with the needed count when it is short. */
static nvmlReturn_t fill(unsigned* count, unsigned* out, unsigned hi, unsigned lo, unsigned step) {
  const unsigned n = (hi - lo) / step + 1;
  if (*count < n) {
    *count = n;
    return 7;
  }
  for (unsigned i = 0; i < n; ++i) out[i] = hi - i * step; /* highest first, as NVML lists them */
  *count = n;
  return 0;
}
nvmlReturn_t nvmlDeviceGetSupportedMemoryClocks(nvmlDevice_t d, unsigned* count, unsigned* mhz) {
  if (device_index(d) < 0) return 2;
  return fill(count, mhz, 2619, 2619, 1);
}
nvmlReturn_t nvmlDeviceGetSupportedGraphicsClocks(nvmlDevice_t d, unsigned mem_mhz, unsigned* count, unsigned* mhz) {
  if (device_index(d) < 0 || mem_mhz != 2619) return 2;
  return fill(count, mhz, g.clock_max, g.clock_min, g.clock_step);
}
nvmlReturn_t nvmlDeviceSetGpuLockedClocks(nvmlDevice_t d, unsigned lo, unsigned hi) {
  if (device_index(d) < 0 || lo > hi || hi > g.clock_max) return 2;
  g.locked_min = lo;
  g.locked_max = hi;
  write_state();
  return 0;
}
nvmlReturn_t nvmlDeviceResetGpuLockedClocks(nvmlDevice_t d) {
  if (device_index(d) < 0) return 2;
  g.locked_min = g.locked_max = 0;
  write_state();
  return 0;
}
