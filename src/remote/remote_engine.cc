#include "remote/remote_engine.h"

#include <algorithm>
#include <functional>
#include <thread>

#include "remote/echo_scoring.h"

namespace joule::remote {
namespace {

using nlohmann::json;

// Runs job(0..n-1) on `threads` threads; after a job fails no new one starts and the first
// failure is returned. done(i) runs under a lock after job i succeeds.
Status run_jobs(size_t n, int threads, const std::function<Status(size_t)>& job,
                const std::function<void(size_t)>& done) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  auto worker = [&] {
    for (size_t i; !failed && (i = next++) < n;) {
      Status s = job(i);
      std::lock_guard lock(mu);
      if (!s.ok()) {
        if (!failed.exchange(true)) first = std::move(s);
      } else if (done) {
        done(i);
      }
    }
  };
  std::vector<std::thread> pool;
  const size_t k = std::min<size_t>(n, static_cast<size_t>(std::max(1, threads)));
  for (size_t t = 1; t < k; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  return first;
}

int64_t usage_field(const json& answer, const char* key) {
  if (!answer.contains("usage") || !answer["usage"].is_object() || !answer["usage"].contains(key) ||
      !answer["usage"][key].is_number_integer())
    return -1;
  return answer["usage"][key].get<int64_t>();
}

}  // namespace

RemoteEvalEngine::RemoteEvalEngine(Client client, int concurrency)
    : client_(std::move(client)), concurrency_(std::max(1, concurrency)) {}

Expected<ContinuationScore> RemoteEvalEngine::score_one(const std::string& context, const std::string& continuation) {
  const EchoPrompt p = echo_prompt(context, continuation);
  for (;;) {
    const int max_tokens = scoring_max_tokens_;
    auto answer = client_.post("/completions", echo_request(client_.model(), p, max_tokens));
    // Servers that insist on generating at least one token: ask for one and leave it out.
    if (!answer.ok() && max_tokens == 0 && answer.status().code() == ErrorCode::kInvalidArgument &&
        answer.status().message().find("max_tokens") != std::string::npos) {
      scoring_max_tokens_ = 1;
      continue;
    }
    if (!answer.ok()) return answer.status();
    JOULE_ASSIGN_OR_RETURN(ContinuationScore s, score_from_echo(*answer, p));
    const int64_t prompt_tokens = usage_field(*answer, "prompt_tokens");
    std::lock_guard lock(stats_mu_);
    // The continuation's tokens, and the rest of the prompt as context: what the server ran.
    const int64_t all = prompt_tokens > 0 ? prompt_tokens : s.n_tokens;
    stats_.continuation_tokens += s.n_tokens;
    stats_.context_tokens += std::max<int64_t>(0, all - s.n_tokens);
    stats_.naive_tokens += all;
    return s;
  }
}

Status RemoteEvalEngine::check_scoring() {
  auto s = score_one("The capital of France is", " Paris");
  if (s.ok()) return Status::Ok();
  // The server answered /models a moment ago, so a failure here is what it cannot do (llama-server
  // answers 500 "Only no echo is supported").
  return Unsupported(client_.url() + " cannot score log-likelihoods: " + s.status().message() +
                     ". Log-likelihood tasks need /completions with echo: true and logprobs (a prompt's "
                     "log-probabilities); gsm8k (generation) needs neither");
}

Expected<std::vector<std::vector<ContinuationScore>>> RemoteEvalEngine::score(const std::vector<ScoreRequest>& requests,
                                                                              const BatchProgress& progress) {
  std::vector<std::vector<ContinuationScore>> out(requests.size());
  std::vector<std::pair<size_t, size_t>> jobs;  // (request, continuation)
  std::vector<size_t> left(requests.size());
  for (size_t r = 0; r < requests.size(); ++r) {
    out[r].resize(requests[r].continuations.size());
    left[r] = requests[r].continuations.size();
    for (size_t c = 0; c < requests[r].continuations.size(); ++c) jobs.emplace_back(r, c);
  }
  int finished = 0;
  JOULE_RETURN_IF_ERROR(run_jobs(
      jobs.size(), concurrency_,
      [&](size_t j) -> Status {
        const auto [r, c] = jobs[j];
        JOULE_ASSIGN_OR_RETURN(out[r][c], score_one(requests[r].context, requests[r].continuations[c]));
        return Status::Ok();
      },
      [&](size_t j) {
        if (--left[jobs[j].first] == 0 && progress) progress(++finished, static_cast<int>(requests.size()));
      }));
  return out;
}

Expected<Generation> RemoteEvalEngine::generate_one(const GenRequest& r) const {
  json body = {{"model", client_.model()}, {"prompt", r.prompt}, {"max_tokens", r.max_tokens}, {"temperature", 0}};
  // OpenAI takes at most 4 stop strings; the rest are cut here.
  if (!r.stops.empty())
    body["stop"] = std::vector<std::string>(r.stops.begin(), r.stops.begin() + std::min<size_t>(4, r.stops.size()));
  JOULE_ASSIGN_OR_RETURN(json answer, client_.post("/completions", body));
  if (!answer.contains("choices") || !answer["choices"].is_array() || answer["choices"].empty() ||
      !answer["choices"][0].is_object() || !answer["choices"][0].contains("text") ||
      !answer["choices"][0]["text"].is_string())
    return FormatError(client_.url() + "/completions answered without choices[0].text");
  Generation g;
  g.text = answer["choices"][0]["text"].get<std::string>();
  for (const std::string& stop : r.stops)
    if (const size_t at = g.text.find(stop); at != std::string::npos) g.text.resize(at);
  const int64_t prompt = usage_field(answer, "prompt_tokens"), completion = usage_field(answer, "completion_tokens");
  if (prompt < 0 || completion < 0)
    return FormatError(client_.url() + "/completions answered without usage.prompt_tokens and completion_tokens");
  g.tokens = prompt + completion;
  return g;
}

Expected<std::vector<Generation>> RemoteEvalEngine::generate(const std::vector<GenRequest>& requests,
                                                             const BatchProgress& progress) {
  std::vector<Generation> out(requests.size());
  int finished = 0;
  JOULE_RETURN_IF_ERROR(run_jobs(
      requests.size(), concurrency_,
      [&](size_t i) -> Status {
        JOULE_ASSIGN_OR_RETURN(out[i], generate_one(requests[i]));
        return Status::Ok();
      },
      [&](size_t) {
        if (progress) progress(++finished, static_cast<int>(requests.size()));
      }));
  return out;
}

ScoreStats RemoteEvalEngine::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

}  // namespace joule::remote
