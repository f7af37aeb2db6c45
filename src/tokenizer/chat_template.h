// Chat templates: the common formats, picked from the model's tokenizer.chat_template (Jinja text,
// recognised by its markers, not executed) or by name with --chat-template.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace joule {

enum class ChatFormat { kChatML, kLlama2, kLlama3, kMistral, kGemma };

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct ChatTemplate {
  ChatFormat format = ChatFormat::kChatML;
  // A system prompt the model's template inserts when the conversation has none (SmolLM2's does).
  std::optional<std::string> default_system;
};

// The names --chat-template accepts, as one line: "chatml, llama2, ...".
std::string_view chat_template_names();
// A template by one of those names.
Expected<ChatTemplate> chat_template_from_name(std::string_view name);
// kUnsupported (naming --chat-template) when the Jinja text matches no known format.
Expected<ChatTemplate> detect_chat_template(std::string_view jinja);
std::string_view chat_format_name(ChatFormat f);

// The prompt text (with special-token markup, to be encoded with parse_special = true).
std::string apply_chat_template(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);

// Tokens of a rendered chat prompt: Llama-2/3 templates write the BOS token themselves, ChatML
// leaves it to the model's add_bos flag, so BOS is never doubled.
std::vector<TokenId> encode_chat(const Tokenizer& tok, const ChatTemplate& t, const std::string& text);

}  // namespace joule
