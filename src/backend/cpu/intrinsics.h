// <immintrin.h> for the ISA translation units. GCC 12's _mm512_undefined_* (used by many
// intrinsics) trips -W(maybe-)uninitialized when inlined (GCC bug 105593); the warning is
// attributed to the header, so it is silenced there and nowhere else.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
