// Where joule finds what it ships with: the benchmark data and the default model. A clone and an
// install both work from any folder: the installed binary looks under PREFIX/share/joule, a binary
// in the build tree looks in the source tree; flags and environment variables override both.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace joule::cli {

// The default model's file name, under <joule home>/models/.
inline constexpr const char* kDefaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf";

// This binary's absolute path ("" if unknown): scripts joule writes (Slurm jobs) call it by it.
std::string executable_path();

// joule's home folders, in the order they are searched: PREFIX/share/joule for an installed
// binary (PREFIX/bin/joule), the source tree for a binary inside the build tree.
std::vector<std::string> home_dirs();

// The benchmark data folder: `flag` (--data) if given, else $JOULE_DATA_DIR, else <home>/data.
// The error names every place it looked and how to fix it.
Expected<std::string> find_data_dir(const std::string& flag);

// The default model: $JOULE_MODEL, else <home>/models/<kDefaultModelFile>; the error names every
// place it looked and the command that fetches it.
Expected<std::string> find_default_model();

}  // namespace joule::cli
