// The tiny model the serve tests run on, and prompts of chosen lengths.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../model/tiny_model.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace joule::serve::testing {

struct TinyServeModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
};

// A small Q8_0 model written under the test's temporary folder as `file_name`.
inline TinyServeModel load_tiny_serve_model(const std::string& file_name) {
  const std::string path = (std::filesystem::path(::testing::TempDir()) / file_name).string();
  joule::testing::TinyModelSpec spec;
  spec.d_model = 128;
  spec.d_ff = 256;
  spec.matrix_type = DType::kQ8_0;
  joule::testing::write_tiny_model(path, spec);
  TinyServeModel m;
  m.model = std::move(Model::load(path)).value();
  m.tok = std::make_unique<Tokenizer>(std::move(Tokenizer::from_gguf(m.model->file())).value());
  return m;
}

// n token ids in the tiny vocabulary, different for each seed.
inline std::vector<TokenId> prompt_of(int n, int seed) {
  std::vector<TokenId> p;
  for (int i = 0; i < n; ++i) p.push_back(static_cast<TokenId>((seed * 131 + i * 17) % 250 + 3));
  return p;
}

}  // namespace joule::serve::testing
