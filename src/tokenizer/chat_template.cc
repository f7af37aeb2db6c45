#include "tokenizer/chat_template.h"

#include <string>
#include <utility>

namespace joule {
namespace {

constexpr std::string_view kAccepted = "chatml, llama2, llama3, mistral, gemma";

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

// Mistral's template (v0.1 / v0.2 instruct): "<s>" once, every user turn "[INST] ... [/INST]",
// every answer directly after it and closed by "</s>"; a leading system message is folded into
// the first user turn, separated by a blank line. The prompt ends with [/INST].
void render_mistral(std::string& out, const std::vector<ChatMessage>& msgs) {
  out += "<s>";
  std::string system;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (i == 0 && msgs[i].role == "system") {
      system = msgs[i].content + "\n\n";
      continue;
    }
    if (msgs[i].role == "user") {
      out.append("[INST] ").append(std::exchange(system, {})).append(msgs[i].content).append(" [/INST]");
    } else if (msgs[i].role == "assistant") {
      out.append(msgs[i].content).append("</s>");
    }
  }
}

// Gemma's template: turns "<start_of_turn>ROLE\n...<end_of_turn>\n" with the assistant called
// "model", contents trimmed, a leading system message folded into the first user turn followed
// by a blank line; BOS comes from the tokenizer.
void render_gemma(std::string& out, const std::vector<ChatMessage>& msgs, bool add_generation_prompt) {
  std::string system;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (i == 0 && msgs[i].role == "system") {
      system = std::string(trim(msgs[i].content)) + "\n\n";
      continue;
    }
    const std::string role = msgs[i].role == "assistant" ? "model" : msgs[i].role;
    out.append("<start_of_turn>").append(role).append("\n").append(std::exchange(system, {}));
    out.append(trim(msgs[i].content)).append("<end_of_turn>\n");
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
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

std::string_view chat_template_names() { return kAccepted; }

Expected<ChatTemplate> chat_template_from_name(std::string_view name) {
  if (name == "chatml") return ChatTemplate{ChatFormat::kChatML, std::nullopt};
  if (name == "llama2") return ChatTemplate{ChatFormat::kLlama2, std::nullopt};
  if (name == "llama3") return ChatTemplate{ChatFormat::kLlama3, std::nullopt};
  if (name == "mistral") return ChatTemplate{ChatFormat::kMistral, std::nullopt};
  if (name == "gemma") return ChatTemplate{ChatFormat::kGemma, std::nullopt};
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
  if (jinja.find("<start_of_turn>") != jinja.npos) return ChatTemplate{ChatFormat::kGemma, std::nullopt};
  // Llama 2 wraps a system prompt in <<SYS>>; Mistral's [INST] templates have no such markers.
  if (jinja.find("[INST]") != jinja.npos)
    return ChatTemplate{jinja.find("<<SYS>>") != jinja.npos ? ChatFormat::kLlama2 : ChatFormat::kMistral, std::nullopt};
  return Unsupported("the model's chat template is not one joule recognises; choose one with "
                     "--chat-template (accepted: " + std::string(kAccepted) + ")");
}

std::string_view chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::kChatML: return "chatml";
    case ChatFormat::kLlama2: return "llama2";
    case ChatFormat::kLlama3: return "llama3";
    case ChatFormat::kMistral: return "mistral";
    case ChatFormat::kGemma: return "gemma";
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
    case ChatFormat::kMistral: render_mistral(out, msgs); break;
    case ChatFormat::kGemma: render_gemma(out, msgs, add_generation_prompt); break;
  }
  return out;
}

std::vector<TokenId> encode_chat(const Tokenizer& tok, const ChatTemplate& t, const std::string& text) {
  // Formats that write their BOS as text (<s>, <|begin_of_text|>) must not get a second one.
  const bool bos_from_tokenizer = t.format == ChatFormat::kChatML || t.format == ChatFormat::kGemma;
  return tok.encode(text, /*add_special=*/bos_from_tokenizer, /*parse_special=*/true);
}

}  // namespace joule
