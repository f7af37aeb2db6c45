// Token-id parity with llama.cpp on a corpus. The reference file comes from
// tests/parity/peer_tokenize.py (tests/parity/run_tokenizer_parity.sh makes it and runs this test):
//   JOULE_TOKENIZER_REF=build/parity/tokenizer_ref.jsonl test_tokenizer
//   --gtest_filter='TokenizerParity.*'
// Skipped when JOULE_TOKENIZER_REF is not set.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "formats/gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace joule {
namespace {

using Ids = std::vector<TokenId>;

std::string show(const Ids& ids) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < ids.size(); ++i) os << (i ? ", " : "") << ids[i];
  os << "]";
  return os.str();
}

// JSON-quoted for the failure report; invalid UTF-8 shows as U+FFFD.
std::string quote(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// Records up to kShown mismatches in detail and counts them all.
struct Mismatches {
  static constexpr int kShown = 10;
  int count = 0;
  std::string report;
  void add(const std::string& what) {
    if (count++ < kShown) report += what + "\n";
  }
};

TEST(TokenizerParity, MatchesLlamaCpp) {
  const char* ref_path = std::getenv("JOULE_TOKENIZER_REF");
  if (!ref_path || !*ref_path) {
    GTEST_SKIP()
        << "JOULE_TOKENIZER_REF is not set; tests/parity/run_tokenizer_parity.sh BUILD_DIR "
           "makes the llama.cpp reference and runs this test";
  }
  std::ifstream in(ref_path);
  ASSERT_TRUE(in) << "cannot read " << ref_path;
  std::string line;
  ASSERT_TRUE(std::getline(in, line)) << ref_path << " is empty";
  const auto header = nlohmann::json::parse(line);

  auto file = gguf::File::open(header.at("model").get<std::string>());
  ASSERT_TRUE(file.ok()) << file.status().message();
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();

  EXPECT_EQ(tok->n_vocab(), header.at("n_vocab").get<int>());
  EXPECT_EQ(tok->bos(), header.at("bos").get<int>());
  EXPECT_EQ(tok->eos(), header.at("eos").get<int>());
  EXPECT_EQ(tok->add_bos(), header.at("add_bos").get<bool>());
  Ids eog, control;
  for (TokenId id = 0; id < tok->n_vocab(); ++id) {
    if (tok->is_eog(id)) eog.push_back(id);
    if (tok->is_control(id)) control.push_back(id);
  }
  EXPECT_EQ(show(eog), show(header.at("eog").get<Ids>()));
  EXPECT_EQ(show(control), show(header.at("control").get<Ids>()));

  int n = 0, ids_equal = 0, peer_lossy = 0;
  Mismatches ids, roundtrip;
  while (std::getline(in, line)) {
    const auto row = nlohmann::json::parse(line);
    const std::string text = row.at("text").get<std::string>();
    ++n;
    bool equal = true;
    for (const bool special : {true, false}) {
      const Ids want = row.at(special ? "ids_special" : "ids_plain").get<Ids>();
      const Ids got = tok->encode(text, /*add_special=*/false, special);
      if (got != want) {
        equal = false;
        ids.add("parse_special=" + std::to_string(special) + " text=" + quote(text) +
                "\n  llama.cpp: " + show(want) + "\n  joule:     " + show(got));
      }
    }
    ids_equal += equal;
    // Ids are compared above, so decoding the reference ids checks decode(encode(s)) == s (or the
    // text as the reference's tokenizer normalizes it: hf_tokenize.py's "decoded").
    const std::string decoded = tok->decode(row.at("ids_plain").get<Ids>());
    if (decoded != row.value("decoded", text)) roundtrip.add("text=" + quote(text) + "\n  decode: " + quote(decoded));
    // llama_detokenize may legitimately differ: clean_up_tokenization_spaces (llama3, gpt-2 and
    // default vocabs) removes spaces before punctuation, which joule's lossless decode keeps.
    peer_lossy += from_hex(row.at("detok_hex").get<std::string>()) != row.value("decoded", text);
  }
  std::printf(
      "tokenizer parity (%s, %s): %d/%d strings with identical ids (%.2f%%); "
      "llama_detokenize differs from the text for %d\n",
      header.at("model").get<std::string>().c_str(), header.at("peer").get<std::string>().c_str(),
      ids_equal, n, n ? 100.0 * ids_equal / n : 0.0, peer_lossy);
  EXPECT_GE(n, 1000) << "the corpus should have at least 1000 strings";
  EXPECT_EQ(ids.count, 0) << ids.count << " id mismatches; the first ones:\n" << ids.report;
  EXPECT_EQ(roundtrip.count, 0) << roundtrip.count
                                << " strings where decode(encode(s)) != s; the first ones:\n"
                                << roundtrip.report;
}

}  // namespace
}  // namespace joule
