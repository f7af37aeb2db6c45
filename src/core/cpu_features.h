// Run-time CPU feature detection (cpuid + OS support via xgetbv) for kernel dispatch.
#pragma once

#include <string>

namespace joule {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool amx_tile = false;
  bool amx_int8 = false;
  bool amx_bf16 = false;
  int physical_cores = 1;
  int logical_cpus = 1;
  std::string model_name;

  // The ISA levels joule's kernels are built for.
  bool has_avx2_level() const { return avx2 && fma && f16c; }
  bool has_avx512_level() const {
    return has_avx2_level() && avx512f && avx512bw && avx512vl && avx512dq && avx512vnni &&
           avx512bf16;
  }
  std::string summary() const;  // e.g. "AVX2 FMA F16C AVX512F ... AMX-INT8"
};

const CpuFeatures& cpu_features();  // detected once

}  // namespace joule
