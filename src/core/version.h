// joule's version and the git commit it was built from.
#pragma once

namespace joule {

// Defined in version.cc, the only file compiled with the commit id: a new commit rebuilds one
// file instead of every file that includes a core header.
const char* joule_version();
const char* joule_git_commit();

}  // namespace joule
