// The HTTP face of joule serve (cpp-httplib): the OpenAI routes, /health and /metrics. Handlers
// run on a pool of connection threads: they parse, tokenize and wait on their request's channel;
// the engine loop runs steps on its own thread, so no handler ever blocks a step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "serve/api.h"
#include "serve/engine_loop.h"
#include "serve/metrics.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace joule::serve {

// A key for /v1/ routes; requests made with it are served at most as `max_class` (a more urgent
// `priority` is lowered to it; the answer's X-Priority header says which class served it).
struct ApiKey {
  std::string key;
  sched::Priority max_class = sched::Priority::kUrgent;
};

struct HttpConfig {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0: any free port (port() tells which)
  std::vector<ApiKey> api_keys;  // non-empty: /v1/ routes need "Authorization: Bearer KEY"
  std::string model_id;        // the name /v1/models lists and requests may name
  int context_tokens = 0;      // the model's context: prompt + max_tokens must fit
  size_t max_body_bytes = size_t{4} << 20;
  int read_timeout_s = 30;     // against clients that send slowly
  int write_timeout_s = 30;    // against clients that read slowly
  int threads = 80;            // connection threads: each open request (or stream) holds one
  ParseLimits limits;
};

class HttpServer {
 public:
  HttpServer(HttpConfig config, EngineLoop& loop, const Tokenizer& tok, ChatTemplate chat, ServeMetrics& metrics);
  ~HttpServer();

  Status bind();  // listens (config.port 0: a free port)
  int port() const;
  void serve();   // answers until stop(); call after bind()
  // New completions are answered 503 (and /health says so); running ones go on.
  void begin_drain();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace joule::serve
