#include "core/version.h"

#include "joule_git_commit.h"  // generated at build time (cmake/git_commit.cmake)

namespace joule {

const char* joule_version() { return JOULE_VERSION; }
const char* joule_git_commit() { return JOULE_GIT_COMMIT; }

}  // namespace joule
