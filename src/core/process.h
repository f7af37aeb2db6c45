// Other processes as /proc shows them: the CPU time of a process tree (for the CPU energy
// estimate of an engine joule does not run itself) and the process listening on a local port.
#pragma once

#include <string>
#include <sys/types.h>

#include "core/status.h"

namespace joule {

// User + system CPU seconds of `pid` and every live descendant, each with the time of its
// children that have exited and been waited for (so a worker that ends mid-window still counts).
// kNotFound when `pid` does not exist (any more).
Expected<double> process_tree_cpu_seconds(pid_t pid, const std::string& proc_root = "/proc");

// The process with a TCP socket listening on `port` (IPv4 or IPv6, any local address).
// kNotFound when none listens; kPermission when a listener exists but its owner's file
// descriptors cannot be read.
Expected<pid_t> listening_pid(int port, const std::string& proc_root = "/proc");

}  // namespace joule
