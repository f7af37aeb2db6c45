// AMX int8 tiles for int8-dynamic prefill (I8_DYN weights x I8_ACT activations): compiled with
// JOULE_AMX_FLAGS, reached only through the AVX-512 table after amx_ready(). See
// kernels_internal.h for the linkage rules.
//
// One TDPBSSD multiplies a 16 x 64 int8 tile of activations (16 tokens, 64 of their values,
// loaded straight from the I8_ACT rows with their stride) by a 64 x 16 tile of weights (16
// output rows) into 16 x 16 int32 sums: 16,384 multiply-adds per instruction against 64 for
// vpdpbusd. The weight tile must hold, in its row kk, the 4 values 4kk..4kk+3 of each of the 16
// output rows side by side, so the rows of a 32-row block are repacked once per call and reused
// for every 32 tokens. Both operands are signed, so no offset correction is needed, and the int32
// sums are exact: outputs equal the scalar oracle's bit for bit.
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/kernels_internal.h"
#include "core/cpu_features.h"

namespace joule::cpu {
namespace {

constexpr int kTile = 16;       // tokens or rows per tile
constexpr int kK = 64;          // int8 values per tile row
constexpr int kRowBlock = 32;   // weight rows packed together (two B tiles)
constexpr int kTokBlock = 32;   // tokens per step (two A tiles)
constexpr size_t kHeader = sizeof(RowHeaderI8);

// Tiles 0-3: int32 sums [token tile][row tile]; 4-5: activations; 6-7: packed weights.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

TileConfig make_config() {
  TileConfig c;
  for (int t = 0; t < 8; ++t) {
    c.colsb[t] = 64;
    c.rows[t] = kTile;
  }
  return c;
}

// Rows r0 .. r0 + nrows (<= 32) of W into packed[chunk][row tile][kk][16 x 4 bytes]; missing
// rows are zero.
void pack_rows(const uint8_t* w, size_t ws, int nrows, int64_t n, uint8_t* packed) {
  const int64_t chunks = n / kK;
  std::memset(packed, 0, static_cast<size_t>(chunks) * 2 * kTile * kK);
  for (int r = 0; r < nrows; ++r) {
    const uint8_t* src = w + static_cast<size_t>(r) * ws + kHeader;
    const int tile = r / kTile, col = r % kTile;
    for (int64_t c = 0; c < chunks; ++c) {
      uint8_t* dst = packed + (static_cast<size_t>(c) * 2 + tile) * kTile * kK + 4 * col;
      for (int kk = 0; kk < kK / 4; ++kk) std::memcpy(dst + kk * kK, src + c * kK + 4 * kk, 4);
    }
  }
}

// Scales the int32 sums of a 16 x 16 tile (tokens x rows) into out.
void store(const int32_t (&sums)[kTile][kTile], const uint8_t* a, size_t as, int t0, const uint8_t* w,
           size_t ws, int r0, int nrows, float* out, int64_t ldo) {
  for (int t = 0; t < kTile; ++t) {
    RowHeaderI8 ha;
    std::memcpy(&ha, a + static_cast<size_t>(t0 + t) * as, kHeader);
    for (int r = 0; r < nrows; ++r) {
      RowHeaderI8 hw;
      std::memcpy(&hw, w + static_cast<size_t>(r0 + r) * ws, kHeader);
      out[(t0 + t) * ldo + r0 + r] = static_cast<float>(sums[t][r]) * (hw.scale * ha.scale);
    }
  }
}

}  // namespace

bool amx_ready() {
  // Linux hands out the 8 KiB tile state only to processes that ask (ARCH_REQ_XCOMP_PERM for
  // XFEATURE_XTILEDATA); a kernel that refuses leaves the AVX-512 path in charge.
  static const bool ready = [] {
    const CpuFeatures& f = cpu_features();
    const char* env = std::getenv("JOULE_AMX");
    if (!f.amx_tile || !f.amx_int8 || (env != nullptr && std::strcmp(env, "0") == 0)) return false;
    constexpr long kReqXcompPerm = 0x1023, kXtileData = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
  }();
  return ready;
}

int gemm_i8_amx(int64_t n, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
                int nt, float* out, int64_t ldo) {
  const int nt_tiles = nt / kTokBlock * kTokBlock;
  if (nt_tiles == 0 || n % kK != 0) return 0;
  static const TileConfig config = make_config();
  _tile_loadconfig(&config);
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  auto* packed = static_cast<uint8_t*>(thread_scratch(static_cast<size_t>(n / kK) * 2 * kTile * kK));
  alignas(64) int32_t sums[4][kTile][kTile];
  for (int r0 = 0; r0 < nr; r0 += kRowBlock) {
    const int nrows = nr - r0 < kRowBlock ? nr - r0 : kRowBlock;
    pack_rows(wb + static_cast<size_t>(r0) * w_stride, w_stride, nrows, n, packed);
    for (int t0 = 0; t0 < nt_tiles; t0 += kTokBlock) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      const uint8_t* a0 = ab + static_cast<size_t>(t0) * a_stride + kHeader;
      const uint8_t* a1 = a0 + static_cast<size_t>(kTile) * a_stride;
      for (int64_t c = 0; c < n / kK; ++c) {
        const uint8_t* b = packed + static_cast<size_t>(c) * 2 * kTile * kK;
        _tile_loadd(4, a0 + c * kK, a_stride);
        _tile_loadd(5, a1 + c * kK, a_stride);
        _tile_loadd(6, b, kK);
        _tile_loadd(7, b + kTile * kK, kK);
        _tile_dpbssd(0, 4, 6);
        _tile_dpbssd(1, 4, 7);
        _tile_dpbssd(2, 5, 6);
        _tile_dpbssd(3, 5, 7);
      }
      _tile_stored(0, sums[0], kTile * sizeof(int32_t));
      _tile_stored(1, sums[1], kTile * sizeof(int32_t));
      _tile_stored(2, sums[2], kTile * sizeof(int32_t));
      _tile_stored(3, sums[3], kTile * sizeof(int32_t));
      for (int i = 0; i < 4; ++i) {
        const int tt = t0 + kTile * (i / 2), rt = r0 + kTile * (i % 2);
        const int rows = nrows - kTile * (i % 2);
        if (rows > 0) store(sums[i], ab, a_stride, tt, wb, w_stride, rt, rows < kTile ? rows : kTile, out, ldo);
      }
    }
  }
  _tile_release();
  return nt_tiles;
}

}  // namespace joule::cpu
