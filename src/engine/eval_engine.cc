#include "engine/eval_engine.h"

#include <algorithm>

#include "engine/generate.h"

namespace joule {

LocalEvalEngine::LocalEvalEngine(const Model& model, const Tokenizer& tok, int n_ctx, ThreadPool& pool,
                                 const cpu::KernelSet& ks)
    : model_(model), tok_(tok), n_ctx_(n_ctx), pool_(pool), ks_(ks), scorer_(model, tok, n_ctx, pool, ks) {}

Expected<std::vector<std::vector<ContinuationScore>>> LocalEvalEngine::score(const std::vector<ScoreRequest>& requests,
                                                                             const BatchProgress& progress) {
  std::vector<std::vector<ContinuationScore>> out;
  out.reserve(requests.size());
  for (const ScoreRequest& r : requests) {
    JOULE_ASSIGN_OR_RETURN(auto scores, scorer_.score(r.context, r.continuations));
    out.push_back(std::move(scores));
    if (progress) progress(static_cast<int>(out.size()), static_cast<int>(requests.size()));
  }
  return out;
}

Expected<std::vector<Generation>> LocalEvalEngine::generate(const std::vector<GenRequest>& requests,
                                                            const BatchProgress& progress) {
  std::vector<Generation> out;
  out.reserve(requests.size());
  for (const GenRequest& r : requests) {
    GenerateParams gp;
    gp.n_predict = r.max_tokens;
    gp.sampler.temperature = 0;  // greedy, as the harness's do_sample: false
    std::vector<TokenId> prompt = tok_.encode(r.prompt, /*add_special=*/false, /*parse_special=*/false);
    // The prompt keeps its last tokens when it and the answer would not fit.
    const size_t room = static_cast<size_t>(std::max(1, n_ctx_ - r.max_tokens));
    if (prompt.size() > room) prompt.erase(prompt.begin(), prompt.end() - static_cast<long>(room));
    ForwardState state(model_, static_cast<int>(prompt.size()) + r.max_tokens);
    Generation g;
    JOULE_ASSIGN_OR_RETURN(GenerateStats st,
                           joule::generate(model_, tok_, state, prompt, gp, pool_, ks_, [&](std::string_view piece) {
                             g.text.append(piece);
                             for (const std::string& stop : r.stops)
                               if (const size_t at = g.text.find(stop); at != std::string::npos) {
                                 g.text.resize(at);
                                 return false;
                               }
                             return true;
                           }));
    g.tokens = st.n_prompt + st.n_decode_evals;
    out.push_back(std::move(g));
    if (progress) progress(static_cast<int>(out.size()), static_cast<int>(requests.size()));
  }
  return out;
}

}  // namespace joule
