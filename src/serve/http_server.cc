#include "serve/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "core/clock.h"
#include "serve/peer_socket.h"
#include "serve/tokenize_api.h"

namespace joule::serve {
namespace {

using nlohmann::json;

constexpr double kPollS = 0.05;  // how often a waiting handler looks at its client

const char* endpoint_name(Endpoint ep) { return ep == Endpoint::kChat ? "/v1/chat/completions" : "/v1/completions"; }

std::string hex_id(uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

void set_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

// Compares in time independent of where the strings differ, so the key cannot be guessed byte by
// byte from response times.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ b[i]);
  return diff == 0;
}

// The endpoint label of /metrics: a known route, else "other" (raw paths would let any scan
// create series without bound).
std::string route_label(const std::string& path) {
  for (const char* r : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/tokenize",
                        "/detokenize", "/tokenizer_info"})
    if (path == r) return r;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models";
  return "other";
}

// GET /tokenizer_info: the special tokens and limits a client that tokenizes through the server
// needs (vLLM's endpoint; lm-evaluation-harness reads eos_token and bos_token).
json tokenizer_info_json(const Tokenizer& tok, int max_model_len) {
  auto special = [&](TokenId id) { return id >= 0 ? json(tok.token_to_piece(id, true)) : json(nullptr); };
  return {{"eos_token", special(tok.eos())},
          {"bos_token", special(tok.bos())},
          {"pad_token", nullptr},
          {"add_bos_token", tok.add_bos()},
          {"model_max_length", max_model_len},
          {"vocab_size", tok.n_vocab()},
          {"tokenizer_class", tok.model() == "llama" ? "joule (SentencePiece BPE)" : "joule (byte-level BPE)"}};
}

}  // namespace

struct HttpServer::Impl {
  HttpConfig cfg;
  EngineLoop& loop;
  const Tokenizer& tok;
  ChatTemplate chat;
  ServeMetrics& metrics;
  httplib::Server svr;
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> next_id{1};
  const int64_t created = int64_t(std::time(nullptr));

  Impl(HttpConfig c, EngineLoop& l, const Tokenizer& t, ChatTemplate ch, ServeMetrics& m)
      : cfg(std::move(c)), loop(l), tok(t), chat(std::move(ch)), metrics(m) {
    routes();
  }

  void reply_error(httplib::Response& res, const std::string& endpoint, const ApiError& e) {
    set_json(res, e.status, error_json(e));
    if (e.status == 429) res.set_header("Retry-After", std::to_string(std::max(1, e.retry_after_s)));
    metrics.on_http(endpoint, e.status);
  }

  void routes() {
    svr.new_task_queue = [n = cfg.threads] { return new httplib::ThreadPool(size_t(n)); };
    svr.set_payload_max_length(cfg.max_body_bytes);
    svr.set_read_timeout(cfg.read_timeout_s, 0);
    svr.set_write_timeout(cfg.write_timeout_s, 0);
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (cfg.api_keys.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
      if (key_of(req)) return httplib::Server::HandlerResponse::Unhandled;
      reply_error(res, route_label(req.path), {401, "a valid API key is required: 'Authorization: Bearer KEY'", "", "invalid_api_key"});
      return httplib::Server::HandlerResponse::Handled;
    });
    // Statuses httplib sets itself (404 no route, 413 too large, 400 bad request line) get the
    // OpenAI error shape; handlers' own errors already have a body.
    svr.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string msg = "HTTP " + std::to_string(res.status);
      if (res.status == 404) msg = "no route " + req.method + " " + req.path;
      if (res.status == 413) msg = "the body is larger than " + std::to_string(cfg.max_body_bytes) + " bytes";
      set_json(res, res.status, error_json({res.status, msg, "", ""}));
      metrics.on_http(route_label(req.path), res.status);
      return httplib::Server::HandlerResponse::Handled;
    }));
    svr.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      reply_error(res, route_label(req.path), {500, what, "", ""});
    });

    svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      if (draining) return reply_error(res, "/health", shutting_down_error());
      set_json(res, 200, {{"status", "ok"}});
      metrics.on_http("/health", 200);
    });
    svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.render(loop.energy_totals()), "text/plain; version=0.0.4; charset=utf-8");
    });
    svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      set_json(res, 200, {{"object", "list"}, {"data", json::array({model_json()})}});
      metrics.on_http("/v1/models", 200);
    });
    svr.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.matches[1] != cfg.model_id) return reply_error(res, "/v1/models", unknown_model(req.matches[1]));
      set_json(res, 200, model_json());
      metrics.on_http("/v1/models", 200);
    });
    // vLLM's tokenizer endpoints (serve/tokenize_api.h), at the root as vLLM has them.
    svr.Get("/tokenizer_info", [this](const httplib::Request&, httplib::Response& res) {
      set_json(res, 200, tokenizer_info_json(tok, cfg.context_tokens));
      metrics.on_http("/tokenizer_info", 200);
    });
    svr.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
      TokenizeRequest r;
      if (auto e = parse_tokenize(req.body, &r)) return reply_error(res, "/tokenize", *e);
      const bool bos = r.add_special_tokens && tok.add_bos();
      set_json(res, 200, tokenize_json(tok.encode(r.prompt, bos, /*parse_special=*/true), cfg.context_tokens));
      metrics.on_http("/tokenize", 200);
    });
    svr.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
      std::vector<TokenId> ids;
      if (auto e = parse_detokenize(req.body, tok.n_vocab(), &ids)) return reply_error(res, "/detokenize", *e);
      set_json(res, 200, {{"prompt", tok.decode(ids)}});
      metrics.on_http("/detokenize", 200);
    });
    svr.Post("/v1/chat/completions",
             [this](const httplib::Request& req, httplib::Response& res) { completions(req, res, Endpoint::kChat); });
    svr.Post("/v1/completions",
             [this](const httplib::Request& req, httplib::Response& res) { completions(req, res, Endpoint::kCompletions); });
  }

  // The configured key the request carries, if any.
  const ApiKey* key_of(const httplib::Request& req) const {
    const std::string given = req.get_header_value("Authorization");
    const ApiKey* found = nullptr;
    for (const ApiKey& k : cfg.api_keys)  // every key compared, so the time tells nothing
      if (same_secret(given, "Bearer " + k.key) && !found) found = &k;
    return found;
  }

  // The class a request is served as: its `priority` field, else the X-Priority header, else
  // normal; no more urgent than its API key allows.
  std::optional<ApiError> priority_of(const httplib::Request& req, const CompletionRequest& r, sched::Priority* out) const {
    sched::Priority p = sched::Priority::kNormal;
    if (r.priority) {
      p = *r.priority;
    } else if (req.has_header("X-Priority")) {
      const auto h = sched::parse_priority(req.get_header_value("X-Priority"));
      if (!h) return ApiError{400, "the X-Priority header must be urgent, normal or low", "X-Priority", ""};
      p = *h;
    }
    if (const ApiKey* k = key_of(req)) p = std::max(p, k->max_class);
    *out = p;
    return std::nullopt;
  }

  ApiError unknown_model(const std::string& name) const {
    return {404, "the model '" + name + "' does not exist; this server serves '" + cfg.model_id + "'", "model",
            "model_not_found"};
  }

  json model_json() const {
    return {{"id", cfg.model_id}, {"object", "model"}, {"created", created}, {"owned_by", "joule"}};
  }

  // What a request asks for, ready for the engine; `discard` when it asks for no new tokens
  // (max_tokens 0 with echo: one is sampled, as the engine always does, and not sent).
  struct Prepared {
    std::vector<TokenId> prompt;
    GenerationParams gen;
    std::string echo_text;
    bool discard = false;
  };

  std::optional<ApiError> prepare(const CompletionRequest& r, Prepared* p) {
    if (!r.model.empty() && r.model != cfg.model_id) return unknown_model(r.model);
    if (r.endpoint == Endpoint::kChat) {
      p->prompt = encode_chat(tok, chat, apply_chat_template(chat, r.messages, /*add_generation_prompt=*/true));
    } else if (r.prompt_tokens) {
      for (TokenId t : *r.prompt_tokens)
        if (t >= tok.n_vocab())
          return ApiError{400, "token id " + std::to_string(t) + " is outside the vocabulary (" +
                                   std::to_string(tok.n_vocab()) + " tokens)", "prompt", ""};
      p->prompt = *r.prompt_tokens;
      if (r.echo) p->echo_text = tok.decode(p->prompt);
    } else {
      // As `joule run -p`: BOS as the model asks, special-token text left as text.
      p->prompt = tok.encode(r.prompt, /*add_special=*/true, /*parse_special=*/false);
      if (r.echo) p->echo_text = r.prompt;
    }
    if (p->prompt.empty()) return ApiError{400, "the prompt has no tokens", "prompt", ""};
    GenerationParams& gen = p->gen;
    gen = r.gen;
    const int64_t room = int64_t(cfg.context_tokens) - int64_t(p->prompt.size());
    if (gen.max_tokens < 0) gen.max_tokens = int(std::max<int64_t>(room, 0));
    if (gen.max_tokens == 0) {
      p->discard = true;
      gen.max_tokens = 1;
    }
    if (room <= 0 || gen.max_tokens > room)
      return ApiError{400, "the prompt's " + std::to_string(p->prompt.size()) + " tokens and max_tokens " +
                               std::to_string(gen.max_tokens) + " exceed the model's context of " +
                               std::to_string(cfg.context_tokens) + " tokens",
                      "max_tokens", "context_length_exceeded"};
    if (r.logprobs) gen.logprobs = *r.logprobs;
    gen.prompt_logprobs = r.echo && r.logprobs;
    return std::nullopt;
  }

  TokenLogprob to_text(TokenId id, const TokenLogprobs& lp) const {  // ids as the text of their tokens
    TokenLogprob t{.token = tok.token_to_piece(id, /*render_special=*/true), .logprob = lp.logprob, .top = {}};
    for (const auto& [alt, alt_lp] : lp.top) t.top.emplace_back(tok.token_to_piece(alt, true), alt_lp);
    return t;
  }

  // An answer as its events arrive.
  struct Collector {
    Answer answer;
    bool discard = false;
  };

  // Adds a prompt-logprobs or token event to the answer; the text the event adds.
  std::string add(Collector& c, const Event& ev) const {
    if (ev.kind == Event::kPromptLogprobs) {
      for (const TokenLogprobs& lp : ev.prompt_logprobs) c.answer.echo_logprobs.push_back(to_text(lp.token, lp));
      return "";
    }
    if (ev.kind != Event::kToken || c.discard) return "";
    c.answer.text += ev.token.text;
    if (ev.token.logprobs) c.answer.logprobs.push_back(to_text(ev.token.token, *ev.token.logprobs));
    return ev.token.text;
  }

  // The request's next event; nullopt once its client has hung up, which cancels the request.
  std::optional<Event> next_event(uint64_t id, Channel& ch, const PeerSocket& peer) {
    for (;;) {
      if (std::optional<Event> ev = ch.pop(kPollS)) return ev;
      if (peer.closed()) {
        loop.cancel(id);
        return std::nullopt;
      }
    }
  }

  // Only the fields every chunk repeats (a copy of the whole answer per token would grow with it).
  static Answer header_of(const Answer& a) {
    Answer h;
    h.id = a.id;
    h.created = a.created;
    h.model = a.model;
    return h;
  }

  static Usage usage_of(const FinishedRequest& f, const Collector& c) {
    return {.prompt_tokens = f.prompt_tokens, .completion_tokens = c.discard ? 0 : f.completion_tokens,
            .energy = f.energy};
  }

  static std::optional<ApiError> failure_of(const FinishedRequest& f) {
    if (f.finish == sched::FinishReason::kError) return ApiError{500, "the engine failed on this request", "", ""};
    if (f.finish == sched::FinishReason::kCancelled)
      return ApiError{503, "the request was cancelled: the server is shutting down", "", ""};
    return std::nullopt;
  }

  void completions(const httplib::Request& req, httplib::Response& res, Endpoint ep) {
    const std::string endpoint = endpoint_name(ep);
    if (draining) return reply_error(res, endpoint, shutting_down_error());
    CompletionRequest r;
    if (auto e = parse_request(ep, req.body, cfg.limits, &r)) return reply_error(res, endpoint, *e);
    Prepared p;
    if (auto e = prepare(r, &p)) return reply_error(res, endpoint, *e);
    sched::Priority priority = sched::Priority::kNormal;
    if (auto e = priority_of(req, r, &priority)) return reply_error(res, endpoint, *e);
    res.set_header("X-Priority", std::string(sched::priority_name(priority)));

    const uint64_t id = next_id.fetch_add(1);
    // Without a seed each request samples its own way, as OpenAI's API does.
    if (!r.seed_given) p.gen.sampler.seed = id * 0x9E3779B97F4A7C15ull ^ uint64_t(std::time(nullptr));
    auto a = std::make_shared<Collector>();
    a->answer.id = (ep == Endpoint::kChat ? "chatcmpl-" : "cmpl-") + hex_id(id);
    a->answer.created = int64_t(std::time(nullptr));
    a->answer.model = cfg.model_id;
    a->answer.echo_text = p.echo_text;
    a->discard = p.discard;
    // The first prompt token has no log-probability; the others come from the engine.
    if (p.gen.prompt_logprobs) a->answer.echo_logprobs.push_back({tok.token_to_piece(p.prompt[0], true), 0, {}});
    auto peer = std::make_shared<PeerSocket>(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
    std::shared_ptr<Channel> ch = loop.submit(id, {std::move(p.prompt), p.gen, monotonic_seconds(), priority});

    // Accepted or refused (a full queue: 429), before any byte of the answer.
    std::optional<Event> first = next_event(id, *ch, *peer);
    if (!first) return hung_up(endpoint);
    if (first->kind == Event::kRejected) return reply_error(res, endpoint, first->error);
    if (r.stream) return stream(res, ep, id, ch, peer, a, r.include_usage);

    for (;;) {
      std::optional<Event> ev = next_event(id, *ch, *peer);
      if (!ev) return hung_up(endpoint);
      if (ev->kind != Event::kFinished) {
        add(*a, *ev);
        continue;
      }
      const FinishedRequest& f = ev->done;
      if (auto e = failure_of(f)) return reply_error(res, endpoint, *e);
      a->answer.finish_reason = std::string(sched::finish_reason_name(f.finish));
      const Usage u = usage_of(f, *a);
      set_json(res, 200, answer_json(ep, a->answer, u));
      if (f.energy) {  // the same figures for clients that read no body fields they do not know
        res.set_header("X-Joule-Energy-J", std::to_string(f.energy->energy_j));
        res.set_header("X-Joule-Energy-Prefill-J", std::to_string(f.energy->prefill_j));
        res.set_header("X-Joule-Energy-Decode-J", std::to_string(f.energy->decode_j));
        res.set_header("X-Joule-Energy-Source", f.energy->source);
      }
      metrics.on_http(endpoint, 200);
      return;
    }
  }

  void hung_up(const std::string& endpoint) { metrics.on_http(endpoint, 499); }  // nginx's "client closed request"

  void stream(httplib::Response& res, Endpoint ep, uint64_t id, std::shared_ptr<Channel> ch,
              std::shared_ptr<PeerSocket> peer, std::shared_ptr<Collector> c, bool include_usage) {
    const std::string endpoint = endpoint_name(ep);
    metrics.on_http(endpoint, 200);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, ep, id, ch, peer, c, include_usage](size_t, httplib::DataSink& sink) {
          bool first = true;
          auto send = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
          // Chat's first chunk carries the role; an echoed prompt goes first with its
          // log-probabilities, once they are all in (they arrive before the first token).
          bool head_due = ep == Endpoint::kChat || !c->answer.echo_text.empty();
          auto send_head = [&] {
            if (!head_due) return true;
            head_due = false;
            Answer head = header_of(c->answer);
            head.echo_text = c->answer.echo_text;
            head.echo_logprobs = c->answer.echo_logprobs;
            const bool ok = send(sse(chunk_json(ep, head, first)));
            first = false;
            return ok;
          };
          if (ep == Endpoint::kChat && !send_head()) return loop.cancel(id), false;
          for (;;) {
            std::optional<Event> ev = next_event(id, *ch, *peer);
            if (!ev) return false;
            if (ev->kind == Event::kPromptLogprobs) {
              add(*c, *ev);
              continue;
            }
            if (!send_head()) return loop.cancel(id), false;
            if (ev->kind == Event::kToken) {
              const size_t n_lp = c->answer.logprobs.size();
              Answer piece = header_of(c->answer);
              piece.text = add(*c, *ev);
              piece.logprobs.assign(c->answer.logprobs.begin() + long(n_lp), c->answer.logprobs.end());
              if (piece.text.empty() && piece.logprobs.empty()) continue;
              if (!send(sse(chunk_json(ep, piece, first)))) return loop.cancel(id), false;
              first = false;
              continue;
            }
            const FinishedRequest& f = ev->done;
            if (auto e = failure_of(f)) {
              send(sse(error_json(*e)));
            } else {
              Answer last = header_of(c->answer);
              last.finish_reason = std::string(sched::finish_reason_name(f.finish));
              send(sse(chunk_json(ep, last, first)));
              if (include_usage) send(sse(usage_chunk_json(ep, last, usage_of(f, *c))));
            }
            send("data: [DONE]\n\n");
            sink.done();
            return true;
          }
        },
        // A connection that failed before or while streaming frees the request at once.
        [this, id](bool success) {
          if (!success) loop.cancel(id);
        });
  }
};

HttpServer::HttpServer(HttpConfig config, EngineLoop& loop, const Tokenizer& tok, ChatTemplate chat,
                       ServeMetrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(config), loop, tok, std::move(chat), metrics)) {}

HttpServer::~HttpServer() = default;

Status HttpServer::bind() {
  if (impl_->cfg.port == 0) {
    const int port = impl_->svr.bind_to_any_port(impl_->cfg.host);
    if (port < 0) return IoError("cannot listen on " + impl_->cfg.host);
    impl_->cfg.port = port;
    return Status::Ok();
  }
  if (!impl_->svr.bind_to_port(impl_->cfg.host, impl_->cfg.port))
    return IoError("cannot listen on " + impl_->cfg.host + ":" + std::to_string(impl_->cfg.port) +
                   " (in use, or not an address of this machine); choose another with --port");
  return Status::Ok();
}

int HttpServer::port() const { return impl_->cfg.port; }
void HttpServer::serve() { impl_->svr.listen_after_bind(); }
void HttpServer::begin_drain() { impl_->draining = true; }
void HttpServer::stop() { impl_->svr.stop(); }

}  // namespace joule::serve
