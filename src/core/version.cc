#include "core/version.h"

namespace joule {

const char* joule_version() { return JOULE_VERSION; }
const char* joule_git_commit() { return JOULE_GIT_COMMIT; }

}  // namespace joule
