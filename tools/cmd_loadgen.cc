// joule loadgen: load an OpenAI-compatible server and report latency, throughput and the energy
// its answers carry (src/serve/loadgen.h). Works against joule serve, llama-server, vLLM, ...
#include <algorithm>
#include <array>
#include <fstream>
#include <iostream>

#include "common.h"
#include "remote/client.h"
#include "core/clock.h"
#include "core/strings.h"
#include "serve/loadgen.h"

namespace joule::cli {
namespace {

struct LoadgenOptions {
  serve::LoadgenConfig config;
  std::string prompts_file;
  std::string endpoint = "chat";
  std::string goodput;
  std::string mix;
  bool json = false;
};

// Varied everyday requests, so a run without --prompts exercises prompts of several lengths.
const std::vector<std::string> kDefaultPrompts = {
    "Give me three tips for saving energy at home.",
    "Explain in two sentences why the sky is blue.",
    "Write a haiku about autumn leaves.",
    "What is the capital of Australia, and why is it not Sydney?",
    "Summarize the plot of Romeo and Juliet in one paragraph.",
    "List five fruits that are rich in vitamin C.",
    "How does a refrigerator keep food cold? Answer briefly for a child.",
    "Translate 'Good morning, how are you?' into French and Spanish.",
    "Write a short email asking a colleague to reschedule a meeting to Friday afternoon because of a "
    "conflict with a customer visit, and offer two alternative time slots.",
    "What are the main differences between a virus and a bacterium?",
    "Suggest a name for a small bakery that specializes in sourdough bread.",
    "Describe the water cycle in four steps.",
};

// Lines of text, or JSON lines with a "prompt" field (blank lines skipped).
Expected<std::vector<std::string>> read_prompts(const std::string& path) {
  std::ifstream in(path);
  if (!in) return IoError("cannot read the prompts file " + path);
  std::vector<std::string> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    if (line.front() == '{') {
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("prompt") || !j["prompt"].is_string())
        return FormatError(path + ":" + std::to_string(n) + ": a JSON line needs a string field \"prompt\"");
      out.push_back(j["prompt"].get<std::string>());
    } else {
      out.push_back(line);
    }
  }
  if (out.empty()) return FormatError(path + " has no prompts");
  return out;
}

// "ttft:MS,tpot:MS" (either or both), as vllm bench serve's --goodput.
Status parse_goodput(const std::string& s, serve::LoadgenConfig* c) {
  const Status malformed = InvalidArgument("--goodput takes ttft:MS,tpot:MS (positive milliseconds), got '" + s + "'");
  const auto items = parse_named_numbers(s, "--goodput");
  if (!items.ok()) return malformed;
  for (const auto& [key, ms] : *items) {
    if (!(ms > 0)) return malformed;
    if (key == "ttft") c->goodput_ttft_ms = ms;
    else if (key == "tpot") c->goodput_tpot_ms = ms;
    else return InvalidArgument("--goodput knows ttft and tpot, got '" + key + "'");
  }
  return Status::Ok();
}

int loadgen(LoadgenOptions o) {
  serve::LoadgenConfig& c = o.config;
  if (o.endpoint != "chat" && o.endpoint != "completions")
    return report_error(InvalidArgument("--endpoint is chat or completions, got '" + o.endpoint + "'"));
  c.chat = o.endpoint == "chat";
  if (c.requests <= 0 && c.duration_s <= 0) return report_error(InvalidArgument("give --requests N or --duration S"));
  if (c.max_tokens < 1) return report_error(InvalidArgument("--max-tokens must be at least 1"));
  if (Status s = parse_goodput(o.goodput, &c); !s.ok()) return report_error(s);
  if (!o.mix.empty()) {
    auto m = sched::parse_per_class(o.mix, "--mix");
    if (!m.ok()) return report_error(m.status());
    std::array<double, sched::kNumPriorities> w{};
    for (size_t i = 0; i < w.size(); ++i) w[i] = (*m)[i].value_or(0);
    if (*std::min_element(w.begin(), w.end()) < 0 || w[0] + w[1] + w[2] <= 0)
      return report_error(InvalidArgument("--mix: shares must be >= 0 and not all 0, e.g. urgent:0.1,normal:0.6,low:0.3"));
    c.mix = w;
  }
  if (auto parts = remote::split_url(c.url); !parts.ok()) return report_error(parts.status());
  c.prompts = kDefaultPrompts;
  if (!o.prompts_file.empty()) {
    auto p = read_prompts(o.prompts_file);
    if (!p.ok()) return report_error(p.status());
    c.prompts = *p;
  }
  remote::EndpointOptions endpoint;
  endpoint.url = c.url;
  endpoint.model = c.model;
  endpoint.api_key = c.api_key;
  auto client = remote::Client::connect(endpoint);
  if (!client.ok()) return report_error(client.status());
  c.model = client->model();
  std::fprintf(stderr, "[joule loadgen] %s model %s, %s, %s, max_tokens %d\n", c.url.c_str(), c.model.c_str(),
               c.rate > 0 ? ("Poisson arrivals at " + std::to_string(c.rate) + " req/s").c_str()
                          : (std::to_string(c.concurrency) + " concurrent").c_str(),
               c.requests > 0 ? (std::to_string(c.requests) + " requests").c_str()
                              : (std::to_string(c.duration_s) + " s").c_str(),
               c.max_tokens);
  const double t0 = monotonic_seconds();
  auto records = serve::run_load(c, /*progress=*/true);
  if (!records.ok()) return report_error(records.status());
  const serve::LoadgenSummary s = serve::summarize(*records, c, monotonic_seconds() - t0);
  if (o.json) {
    nlohmann::json j = serve::summary_json(s);
    j["config"] = {{"url", c.url},         {"model", c.model},           {"endpoint", o.endpoint},
                   {"concurrency", c.rate > 0 ? nlohmann::json(nullptr) : nlohmann::json(c.concurrency)},
                   {"rate", c.rate > 0 ? nlohmann::json(c.rate) : nlohmann::json(nullptr)},
                   {"max_tokens", c.max_tokens}, {"temperature", c.temperature},
                   {"mix", c.mix ? nlohmann::json(*c.mix) : nlohmann::json(nullptr)}};
    j["provenance"] = provenance();
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << serve::summary_text(s);
  }
  return s.completed > 0 ? 0 : 1;
}

}  // namespace

void register_loadgen(CLI::App& app, Action& action) {
  auto o = std::make_shared<LoadgenOptions>();
  CLI::App* cmd = app.add_subcommand("loadgen", "load an OpenAI-compatible server and report latency, throughput and energy");
  cmd->add_option("--url", o->config.url, "the API base URL (as the OpenAI client's base_url)")->capture_default_str();
  cmd->add_option("--served-model,--model", o->config.model, "model name to request (default: the one the server lists)");
  cmd->add_option("--api-key", o->config.api_key, "sent as 'Authorization: Bearer KEY'");
  cmd->add_option("--endpoint", o->endpoint, "chat or completions")->capture_default_str();
  auto* conc = cmd->add_option("-c,--concurrency", o->config.concurrency, "requests in flight at all times (closed loop)")
                   ->capture_default_str();
  cmd->add_option("-r,--rate", o->config.rate, "requests per second, Poisson arrivals (open loop)")->excludes(conc);
  cmd->add_option("-n,--requests", o->config.requests, "stop after N requests");
  cmd->add_option("-d,--duration", o->config.duration_s, "stop sending after S seconds");
  cmd->add_option("--prompts", o->prompts_file, "prompts, one per line (or JSON lines with \"prompt\"); used in turn");
  cmd->add_option("--max-tokens", o->config.max_tokens, "tokens to generate per request")->capture_default_str();
  cmd->add_option("--temp", o->config.temperature, "sampling temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--goodput", o->goodput, "SLOs for goodput, e.g. ttft:500,tpot:50 (ms)");
  cmd->add_option("--mix", o->mix,
                  "send joule's 'priority' field in these shares, e.g. urgent:0.1,normal:0.6,low:0.3 (figures per "
                  "class follow)");
  cmd->add_option("--seed", o->config.seed, "seed of the arrival times and the classes")->capture_default_str();
  cmd->add_option("--timeout", o->config.timeout_s, "seconds per request before it counts as failed")->capture_default_str();
  cmd->add_flag("--json", o->json, "print one JSON object instead of the table");
  cmd->callback([o, &action] { action = [o] { return loadgen(*o); }; });
}

}  // namespace joule::cli
