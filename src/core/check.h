// Invariant checks: a failed JOULE_CHECK is a bug in joule, never a user error (those are Status).
#pragma once

#include <cstdio>
#include <cstdlib>

#define JOULE_CHECK(cond)                                                                \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "joule: internal check failed at %s:%d: %s\n", __FILE__,      \
                   __LINE__, #cond);                                                     \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
