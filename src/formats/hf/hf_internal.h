// Private to src/formats/hf.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace joule::hf {

// A JSON object read from a file: kNotFound if it cannot be opened, kFormat if it is not an object.
Expected<nlohmann::json> read_json_object(const std::filesystem::path& p);

}  // namespace joule::hf
