#include "serve/engine_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/clock.h"

namespace joule::serve {

nlohmann::json finished_json(const FinishedRequest& f) {
  auto ms = [](std::optional<double> s) { return s ? nlohmann::json(*s * 1e3) : nlohmann::json(nullptr); };
  nlohmann::json j = {{"id", f.id},
                      {"priority", sched::priority_name(f.priority)},
                      {"finish_reason", sched::finish_reason_name(f.finish)},
                      {"prompt_tokens", f.prompt_tokens},
                      {"completion_tokens", f.completion_tokens},
                      {"prefix_hit_tokens", f.prefix_hit_tokens},
                      {"preemptions", f.preemptions},
                      {"queue_ms", f.queue_s * 1e3},
                      {"ttft_ms", ms(f.ttft_s)},
                      {"tpot_ms", ms(f.tpot_s)},
                      {"e2e_ms", f.e2e_s * 1e3}};
  if (f.energy) j["energy"] = energy_json(*f.energy, f.completion_tokens);
  return j;
}

void Channel::push(Event e) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_one();
}

std::optional<Event> Channel::pop(double timeout_s) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!cv_.wait_for(lk, std::chrono::duration<double>(timeout_s), [&] { return !events_.empty(); }))
    return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

EngineLoop::EngineLoop(BatchEngine& engine, energy::Meter* meter, LoopHooks hooks, size_t max_inbox)
    : engine_(engine),
      meter_(meter),
      hooks_(std::move(hooks)),
      max_inbox_(max_inbox),
      ledger_(meter ? meter->domains() : std::vector<energy::DomainInfo>{}) {}

EngineLoop::~EngineLoop() { stop(); }

void EngineLoop::start() { thread_ = std::thread([this] { run(); }); }

void EngineLoop::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<Channel> EngineLoop::submit(uint64_t id, Submission s) {
  auto ch = std::make_shared<Channel>();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_) {
      ch->push(Event::rejected(shutting_down_error()));
      return ch;
    }
    if (inbox_.size() >= max_inbox_) {
      ch->push(Event::rejected(queue_full("too many requests are arriving at once; retry later", int(inbox_.size()))));
      return ch;
    }
    inbox_.push_back({id, std::move(s), ch});
    live_++;
  }
  cv_.notify_all();
  return ch;
}

void EngineLoop::cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = std::find_if(inbox_.begin(), inbox_.end(), [&](const Pending& p) { return p.id == id; });
    if (it != inbox_.end()) {  // never reached the engine: nothing to free
      inbox_.erase(it);
      live_--;
    } else {
      cancels_.push_back(id);
    }
  }
  cv_.notify_all();
  idle_cv_.notify_all();
}

bool EngineLoop::wait_idle(double timeout_s) {
  std::unique_lock<std::mutex> lk(mu_);
  return idle_cv_.wait_for(lk, std::chrono::duration<double>(timeout_s), [&] { return live_.load() == 0; });
}

EngineLoop::EnergyTotals EngineLoop::energy_totals() const {
  std::lock_guard<std::mutex> lk(mu_);
  return totals_;
}

std::string EngineLoop::energy_source() const { return energy::source_name(ledger_.source()); }

ApiError EngineLoop::queue_full(std::string message, int queued) const {
  // The queue ahead at the rate requests have been finishing; 1 s when nothing has finished yet.
  constexpr double kMinS = 1, kMaxS = 60;
  const double rate_hz = finish_rate_hz_.load();
  const double wait_s = rate_hz > 0 ? std::clamp(std::ceil(queued / rate_hz), kMinS, kMaxS) : kMinS;
  return ApiError{.status = 429, .message = std::move(message), .param = "", .code = "", .retry_after_s = int(wait_s)};
}

void EngineLoop::release_live(int n) {
  {
    std::lock_guard<std::mutex> lk(mu_);  // under the lock, so wait_idle cannot miss the change
    live_ -= n;
  }
  idle_cv_.notify_all();
}

void EngineLoop::drain_inbox() {
  std::deque<Pending> inbox;
  std::vector<uint64_t> cancels;
  {
    std::lock_guard<std::mutex> lk(mu_);
    inbox.swap(inbox_);
    cancels.swap(cancels_);
  }
  for (Pending& p : inbox) {
    if (Status s = engine_.submit(p.id, std::move(p.s.prompt), p.s.params, p.s.arrival_s, p.s.priority); !s.ok()) {
      // The HTTP layer has already answered a prompt too long for the context with OpenAI's
      // context_length_exceeded; what the engine refuses here is a plain 400 or 429.
      const int queued = engine_.stats().waiting_by_class[size_t(sched::index_of(p.s.priority))];
      p.ch->push(Event::rejected(s.code() == ErrorCode::kResourceExhausted ? queue_full(s.message(), queued)
                                                                             : error_from_status(s)));
      release_live(1);
      continue;
    }
    channels_[p.id] = p.ch;
    p.ch->push(Event::accepted());
  }
  for (uint64_t id : cancels) (void)engine_.cancel(id);  // kNotFound: it ended on its own
}

void EngineLoop::read_meter(bool step_ran, double step_s) {
  if (!ledger_.on()) return;
  const std::vector<energy::Reading> r = meter_->read_now();
  const double energy_j = ledger_.advance(monotonic_seconds(), r);
  meter_temp_c_.reset();
  for (const energy::Reading& x : r)
    if (x.temp_c) meter_temp_c_ = std::max(meter_temp_c_.value_or(*x.temp_c), *x.temp_c);
  if (step_ran) ledger_.charge_step(energy_j, step_s, engine_.last_shares());
  else ledger_.charge_idle(energy_j);
  std::lock_guard<std::mutex> lk(mu_);
  totals_ = {ledger_.idle_j(), ledger_.charged_j(), ledger_.last_power_w()};
}

void EngineLoop::finish_requests() {
  for (const sched::Request& r : engine_.take_finished()) {
    FinishedRequest f;
    f.id = r.id;
    f.priority = r.priority;
    f.finish = r.finish;
    f.prompt_tokens = r.prompt_tokens;
    f.completion_tokens = r.generated_tokens();
    f.prefix_hit_tokens = r.prefix_hit_tokens;
    f.preemptions = r.preemptions;
    const double end_s = r.finished_s.value_or(monotonic_seconds());
    f.queue_s = r.scheduled_s.value_or(end_s) - r.arrival_s;
    f.e2e_s = end_s - r.arrival_s;
    if (r.first_token_s) {
      f.ttft_s = *r.first_token_s - r.arrival_s;
      if (f.completion_tokens > 1) f.tpot_s = (f.e2e_s - *f.ttft_s) / (f.completion_tokens - 1);
    }
    if (ledger_.on()) {
      const EnergyAccount a = ledger_.take(r.id);
      f.energy = RequestEnergy{.energy_j = a.energy_j(),
                               .prefill_j = a.prefill_j,
                               .decode_j = a.decode_j,
                               .duration_s = a.active_s,
                               .source = energy::source_name(ledger_.source()),
                               .domains = ledger_.domain_names()};
    }
    // The finish rate over the last requests (at most 32), for Retry-After.
    finish_times_s_.push_back(end_s);
    if (finish_times_s_.size() > 32) finish_times_s_.pop_front();
    if (const double span_s = finish_times_s_.back() - finish_times_s_.front(); span_s > 0)
      finish_rate_hz_.store(double(finish_times_s_.size() - 1) / span_s);
    if (gov_.governor && interval_tpot_ms_.size() < 4096) {  // the governor's latency sample
      if (f.tpot_s) interval_tpot_ms_.push_back(*f.tpot_s * 1e3);
      if (f.ttft_s) interval_ttft_ms_.push_back(*f.ttft_s * 1e3);
    }
    if (hooks_.on_finish) hooks_.on_finish(f);
    if (auto it = channels_.find(r.id); it != channels_.end()) {
      it->second->push(Event::finished(f));
      channels_.erase(it);
    }
    release_live(1);
  }
}

namespace {

std::optional<double> p90(std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  const size_t k = std::min(v.size() - 1, v.size() * 9 / 10);
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end());
  return v[k];
}

}  // namespace

void EngineLoop::govern_if_due() {
  if (!gov_.governor) return;
  const double now_s = monotonic_seconds();
  if (now_s - gov_last_s_ < gov_.interval_s) return;
  govern::GovernorSample s{.now_s = now_s};
  const double total_j = ledger_.idle_j() + ledger_.charged_j();
  if (ledger_.on()) s.power_w = (total_j - gov_last_j_) / (now_s - gov_last_s_);
  std::optional<double> temp = gov_.temperature_c ? gov_.temperature_c() : std::nullopt;
  if (meter_temp_c_) temp = std::max(temp.value_or(*meter_temp_c_), *meter_temp_c_);
  s.temp_c = temp;
  s.tpot_p90_ms = p90(interval_tpot_ms_);
  s.ttft_p90_ms = p90(interval_ttft_ms_);
  interval_tpot_ms_.clear();
  interval_ttft_ms_.clear();
  gov_last_s_ = now_s;
  gov_last_j_ = total_j;
  throttle_ = gov_.governor->update(s);
  engine_.set_admission(throttle_.admit);
  const std::vector<govern::Decision> d = gov_.governor->take_decisions();
  if (gov_.on_update) gov_.on_update(s, throttle_, d);
}

void EngineLoop::pace(double step_s) {
  // Rest so that steps fill `duty` of the time; steps with urgent work only at full throttle.
  if (throttle_.duty >= 1) return;
  if (!throttle_.pace_urgent && engine_.stats().running_by_class[size_t(sched::index_of(sched::Priority::kUrgent))] > 0)
    return;
  const double rest_s = step_s * (1 - throttle_.duty) / throttle_.duty;
  {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait_for(lk, std::chrono::duration<double>(rest_s), [&] { return stop_; });
  }
  read_meter(false, 0);  // the rest is idle energy, not the next step's
}

void EngineLoop::run() {
  // The meter's own window spans the ledger's readings, as a check on them.
  constexpr const char* kWindow = "serve";
  const bool windowed = ledger_.on() && meter_->begin(kWindow).ok();
  read_meter(false, 0);  // the ledger's origin
  gov_last_s_ = monotonic_seconds();
  gov_last_j_ = ledger_.idle_j() + ledger_.charged_j();
  for (;;) {
    bool waited = false;
    {
      std::unique_lock<std::mutex> lk(mu_);
      if (stop_) break;
      if (inbox_.empty() && cancels_.empty() && engine_.idle()) {
        // Idle: wake for work, and once a second to keep the idle account current.
        cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stop_ || !inbox_.empty() || !cancels_.empty(); });
        waited = true;
        if (stop_) break;
      }
    }
    if (waited) read_meter(false, 0);
    drain_inbox();
    int prompt_tokens = 0, generated_tokens = 0;
    if (!engine_.idle()) {
      const double t0_s = monotonic_seconds();
      Expected<std::vector<Emitted>> out = engine_.step();
      const double step_s = monotonic_seconds() - t0_s;
      read_meter(true, step_s);
      for (const StepShare& sh : engine_.last_shares()) prompt_tokens += sh.prefill_tokens;
      generated_tokens = out.ok() ? int(out->size()) : 0;
      if (out.ok()) {
        for (const BatchEngine::PromptLogprobs& p : engine_.last_prompt_logprobs())
          if (auto it = channels_.find(p.request_id); it != channels_.end())
            it->second->push(Event::of_prompt(p.logprobs));
        for (Emitted& e : *out)
          if (auto it = channels_.find(e.request_id); it != channels_.end())
            it->second->push(Event::of_token(std::move(e)));
      }
      // An empty step with live requests (nothing could run) must not spin.
      if (out.ok() && out->empty() && engine_.last_shares().empty())
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      else
        pace(step_s);
    }
    finish_requests();
    govern_if_due();
    // Also after an iteration without a step (a cancel that left the engine idle), so the
    // gauges never show a request that has gone.
    if (hooks_.on_step) hooks_.on_step(engine_.stats(), prompt_tokens, generated_tokens);
  }
  // Shutting down: what never reached the engine is refused, what runs is cancelled.
  std::deque<Pending> inbox;
  {
    std::lock_guard<std::mutex> lk(mu_);
    inbox.swap(inbox_);
  }
  for (Pending& p : inbox) p.ch->push(Event::rejected(shutting_down_error()));
  release_live(int(inbox.size()));
  for (const auto& [id, ch] : channels_) (void)engine_.cancel(id);
  read_meter(false, 0);  // the ledger's accounts end where the loop does
  if (windowed) {
    if (auto w = meter_->end(kWindow); w.ok()) {
      double sum_j = 0;
      bool complete = true;
      for (const std::string& name : ledger_.domain_names())
        for (const energy::DomainWindow& d : w->domains)
          if (d.domain == name) {
            if (d.energy_j) sum_j += *d.energy_j;
            else complete = false;
          }
      if (complete) metered_j_ = sum_j;
    }
  }
  finish_requests();
  idle_cv_.notify_all();
}

}  // namespace joule::serve
