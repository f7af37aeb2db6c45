// A study: the grid of configurations to measure, read from a TOML file (docs/studies.md).
//
//   [study]
//   name = "quickstart"          # cells are keyed by study name in the results database
//   repeats = 1                  # each cell measured this many times
//   warmup_s = 0                 # before each (model, precision, device) group: run, not recorded
//   cooldown_s = 2               # idle between cells, so one cell's heat does not bias the next
//   baseline = "f32"             # the precision deltas are computed against (default: the first)
//   on_engine_failure = "stop"   # or "next-engine": record an engine's failed cells, go on
//   precisions = ["f32", "f16", "int8", "int8-dynamic", "int4"]   # "stored" keeps the file's types
//   [[models]]                   # one or more; name defaults to the file's stem
//   path = "models/SmolLM2-135M-Instruct.Q4_1.gguf"   # relative: to the current folder, else to
//                                # the study file's; no path: joule's default model (give a name)
//   [[devices]]
//   kind = "cpu"                 # or "gpu" (ids = [0, ...]), once the CUDA backend exists
//   threads = [2]
//   [[tasks]]
//   name = "hellaswag"           # lm-evaluation-harness names; limit / sample / seed / shots optional
//   limit = 100
//   [[engines]]                  # optional: an OpenAI-compatible server the study starts (docs/engines.md)
//   name = "llama-server"
//   start = "llama-server -m model.gguf --port {port} -np 8"   # /bin/sh -c; {port}: a free port, {joule}: joule
//   precision = "q4_1"           # the label its cells carry (the baseline may name one)
//   model = "smollm2"            # the model label its cells carry (default: served_model, else name)
//   device = "llama.cpp:cpu"     # the platform label its cells carry (default: "engine:NAME")
//   tasks = ["gsm8k"]            # the study's tasks it runs (default: all; llama-server scores none
//                                # of the multiple-choice ones)
//   url = "http://127.0.0.1:{port}/v1"    # default; health defaults to the URL's origin + /health
//   health_timeout_s = 300
//   stop_grace_s = 10            # SIGTERM, then SIGKILL after this long
//   concurrency = 8              # requests in flight
// With engines, [[models]] and [[devices]] (joule's own engine) are optional.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace joule::study {

struct ModelSpec {
  std::string name;
  std::string path;  // empty: the default model (found by the CLI)
};

struct DeviceSpec {
  std::string kind;          // "cpu" or "gpu"
  std::vector<int> threads;  // cpu: thread counts to sweep
  std::vector<int> ids;      // gpu: device ordinals
};

struct TaskSpec {
  std::string name;
  int limit = 0;
  int sample = 0;
  uint64_t seed = 1234;
  int shots = -1;  // -1: the task's default
};

struct EngineSpec {
  std::string name;
  std::string start;         // shell command; {port} and {joule} substituted
  std::string precision;     // the label its cells carry ("fp16", "awq-int4", ...)
  std::string model;         // the model label its cells carry ("" = served_model, else name)
  std::string device;        // the platform label its cells carry ("" = "engine:NAME")
  std::string url = "http://127.0.0.1:{port}/v1";
  std::string health;        // "" = the URL's origin + /health
  std::string served_model;  // "" = the one the server lists
  double health_timeout_s = 300;
  double stop_grace_s = 10;
  int concurrency = 8;
  std::vector<std::string> tasks;  // the study's tasks it runs; empty = all

  bool runs(const std::string& task) const {
    return tasks.empty() || std::find(tasks.begin(), tasks.end(), task) != tasks.end();
  }
};

// What a study does when an engine it started fails (exits, never gets healthy, cannot score a
// task): stop there, or record that engine's cells as failed and go on with the next engine.
enum class OnEngineFailure { kStop, kNextEngine };
Expected<OnEngineFailure> parse_on_engine_failure(const std::string& text);

struct StudySpec {
  std::string name;
  OnEngineFailure on_engine_failure = OnEngineFailure::kStop;
  int repeats = 1;
  double warmup_s = 0;
  double cooldown_s = 0;
  std::string baseline;
  std::vector<ModelSpec> models;
  std::vector<std::string> precisions;
  std::vector<DeviceSpec> devices;
  std::vector<TaskSpec> tasks;
  std::vector<EngineSpec> engines;
};

// Parses and validates a study. Errors name `origin` and the line: unknown keys, wrong types,
// empty lists, unknown precisions or tasks, a baseline that is not among the precisions.
Expected<StudySpec> parse_study(const std::string& toml_text, const std::string& origin);
Expected<StudySpec> load_study(const std::string& path);

}  // namespace joule::study
