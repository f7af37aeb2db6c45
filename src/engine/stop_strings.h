// Stop strings for streamed text, as the OpenAI API's `stop`: generation ends at the first
// occurrence of any of them, which is not part of the output. While the text's end could still be
// the beginning of a stop string it is held back, so a client never receives text that a later
// token turns into a stop (llama-server and vLLM hold back the same way).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace joule {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);  // empty strings are ignored

  struct Out {
    std::string text;      // safe to emit now
    bool stopped = false;  // a stop string was reached: nothing follows `text`
  };
  // Adds generated text; after a stop, further pushes return nothing.
  Out push(std::string_view piece);
  // The generation ended otherwise (end of sequence, length): the held-back rest.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string held_;  // emitted text's tail that a stop string could still begin in
  bool stopped_ = false;
};

}  // namespace joule
