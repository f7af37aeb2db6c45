#include "tokenizer/chat_template.h"

#include <string>

namespace joule {
namespace {

constexpr std::string_view kAccepted = "chatml, llama2, llama3";

// Jinja's `trim` / Python's str.strip() for the whitespace prompts contain in practice.
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(kSpace);
  if (b == s.npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// A system prompt written literally into a ChatML template, e.g. SmolLM2's
//   '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, ...<|im_end|>\n'
// ("\n" either a real newline or Jinja's escape). Text built from variables is not a default.
std::optional<std::string> chatml_default_system(std::string_view jinja) {
  constexpr std::string_view kOpen = "<|im_start|>system";
  constexpr std::string_view kClose = "<|im_end|>";
  for (size_t at = jinja.find(kOpen); at != jinja.npos; at = jinja.find(kOpen, at + 1)) {
    std::string_view rest = jinja.substr(at + kOpen.size());
    if (rest.starts_with("\n")) {
      rest.remove_prefix(1);
    } else if (rest.starts_with("\\n")) {
      rest.remove_prefix(2);
    } else {
      continue;
    }
    const size_t end = rest.find(kClose);
    if (end == rest.npos || end == 0) continue;
    const std::string_view body = rest.substr(0, end);
    if (body.find_first_of("'\"{}") != body.npos) continue;  // concatenates a variable
    std::string text;
    for (size_t i = 0; i < body.size(); ++i) {
      const bool escaped_newline = body.substr(i).starts_with("\\n");
      text += escaped_newline ? '\n' : body[i];
      i += escaped_newline;
    }
    return text;
  }
  return std::nullopt;
}

void render_chatml(std::string& out, const std::vector<ChatMessage>& msgs,
                   bool add_generation_prompt) {
  for (const ChatMessage& m : msgs) {
    out.append("<|im_start|>").append(m.role).append("\n").append(m.content).append("<|im_end|>\n");
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
}

// Meta's Llama 3 template: contents are trimmed; <|begin_of_text|> opens the first message.
void render_llama3(std::string& out, const std::vector<ChatMessage>& msgs,
                   bool add_generation_prompt) {
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (i == 0) out += "<|begin_of_text|>";
    out.append("<|start_header_id|>").append(msgs[i].role).append("<|end_header_id|>\n\n");
    out.append(trim(msgs[i].content)).append("<|eot_id|>");
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

// Meta's Llama 2 chat template: a leading system message is folded into the first user turn,
// every user turn is "<s>[INST] ... [/INST]" and every answer " ... </s>". The prompt ends with
// [/INST] already, so there is no separate generation prompt.
void render_llama2(std::string& out, const std::vector<ChatMessage>& msgs) {
  size_t first = 0;
  std::string system;
  const bool has_system = !msgs.empty() && msgs[0].role == "system";
  if (has_system) {
    system = msgs[0].content;
    first = 1;
  }
  for (size_t i = first; i < msgs.size(); ++i) {
    std::string content;
    if (i == first && has_system)
      content.append("<<SYS>>\n").append(system).append("\n<</SYS>>\n\n");
    content.append(msgs[i].content);
    if (msgs[i].role == "user") {
      out.append("<s>[INST] ").append(trim(content)).append(" [/INST]");
    } else if (msgs[i].role == "assistant") {
      out.append(" ").append(trim(content)).append(" </s>");
    }
  }
}

}  // namespace

Expected<ChatTemplate> chat_template_from_name(std::string_view name) {
  if (name == "chatml") return ChatTemplate{ChatFormat::kChatML, std::nullopt};
  if (name == "llama2") return ChatTemplate{ChatFormat::kLlama2, std::nullopt};
  if (name == "llama3") return ChatTemplate{ChatFormat::kLlama3, std::nullopt};
  return InvalidArgument("unknown chat template '" + std::string(name) +
                         "' for --chat-template (accepted: " + std::string(kAccepted) + ")");
}

Expected<ChatTemplate> detect_chat_template(std::string_view jinja) {
  if (jinja.find("<|im_start|>") != jinja.npos) {
    return ChatTemplate{ChatFormat::kChatML, chatml_default_system(jinja)};
  }
  if (jinja.find("<|start_header_id|>") != jinja.npos) {
    return ChatTemplate{ChatFormat::kLlama3, std::nullopt};
  }
  if (jinja.find("[INST]") != jinja.npos) return ChatTemplate{ChatFormat::kLlama2, std::nullopt};
  return Unsupported("the model's chat template is not one joule recognises; choose one with "
                     "--chat-template (accepted: " + std::string(kAccepted) + ")");
}

std::string_view chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::kChatML: return "chatml";
    case ChatFormat::kLlama2: return "llama2";
    case ChatFormat::kLlama3: return "llama3";
  }
  return "unknown";
}

std::string apply_chat_template(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  // Like SmolLM2's template, the default system prompt is inserted only into a conversation that
  // has messages and does not open with its own system message.
  std::vector<ChatMessage> msgs;
  if (t.default_system && !messages.empty() && messages[0].role != "system") {
    msgs.push_back({"system", *t.default_system});
  }
  msgs.insert(msgs.end(), messages.begin(), messages.end());

  std::string out;
  switch (t.format) {
    case ChatFormat::kChatML: render_chatml(out, msgs, add_generation_prompt); break;
    case ChatFormat::kLlama3: render_llama3(out, msgs, add_generation_prompt); break;
    case ChatFormat::kLlama2: render_llama2(out, msgs); break;
  }
  return out;
}

std::vector<TokenId> encode_chat(const Tokenizer& tok, const ChatTemplate& t, const std::string& text) {
  return tok.encode(text, /*add_special=*/t.format == ChatFormat::kChatML, /*parse_special=*/true);
}

}  // namespace joule
