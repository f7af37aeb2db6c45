// Chat templates: recognition from the Jinja text and the exact prompts each format renders.
#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace joule {
namespace {

// SmolLM2-135M-Instruct's tokenizer.chat_template, verbatim (its newlines are real newlines).
constexpr std::string_view kSmolLM2 =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}";

const std::vector<ChatMessage> kConversation = {
    {"user", "Hi!"}, {"assistant", "Hello. How can I help?"}, {"user", "Tell me a joke."}};

TEST(ChatTemplate, DetectsSmolLM2AndItsDefaultSystemPrompt) {
  auto t = detect_chat_template(kSmolLM2);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->format, ChatFormat::kChatML);
  EXPECT_EQ(t->default_system,
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  EXPECT_EQ(apply_chat_template(*t, {{"user", "What is 2+2?"}}, true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
  // A conversation with its own system message keeps it; an empty one renders only the prompt.
  EXPECT_EQ(apply_chat_template(*t, {{"system", "Be brief."}, {"user", "Hi"}}, false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
  EXPECT_EQ(apply_chat_template(*t, {}, true), "<|im_start|>assistant\n");
}

TEST(ChatTemplate, DefaultSystemPromptOnlyWhenWrittenLiterally) {
  // Qwen2.5 style: the default is written with Jinja's "\n" escape.
  auto qwen = detect_chat_template(
      "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
      "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are "
      "Qwen, created by Alibaba Cloud.<|im_end|>\\n' }}{%- endif %}");
  ASSERT_TRUE(qwen.ok());
  EXPECT_EQ(qwen->default_system, "You are Qwen, created by Alibaba Cloud.");
  auto plain = detect_chat_template(
      "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + "
      "'<|im_end|>\\n'}}{% endfor %}");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->format, ChatFormat::kChatML);
  EXPECT_FALSE(plain->default_system.has_value());
}

TEST(ChatTemplate, ChatML) {
  auto t = chat_template_from_name("chatml");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(apply_chat_template(*t, kConversation, true),
            "<|im_start|>user\nHi!<|im_end|>\n"
            "<|im_start|>assistant\nHello. How can I help?<|im_end|>\n"
            "<|im_start|>user\nTell me a joke.<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama3) {
  auto t = detect_chat_template(
      "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
      "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
      "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
      "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
      "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->format, ChatFormat::kLlama3);
  EXPECT_EQ(apply_chat_template(*t, {{"system", "Be brief. "}, {"user", " Hi!\n"}}, true),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(apply_chat_template(*t, {{"user", "Hi"}}, false),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
}

TEST(ChatTemplate, Llama2) {
  auto t = detect_chat_template(
      "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
      "messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}...{{ bos_token + '[INST] ' + content.strip() + "
      "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + "
      "eos_token }}{% endif %}{% endfor %}");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->format, ChatFormat::kLlama2);
  const std::vector<ChatMessage> msgs = {{"system", "Be brief."},
                                         {"user", "Hi!"},
                                         {"assistant", "Hello."},
                                         {"user", "Tell me a joke. "}};
  EXPECT_EQ(apply_chat_template(*t, msgs, true),
            "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi! [/INST] Hello. </s>"
            "<s>[INST] Tell me a joke. [/INST]");
  EXPECT_EQ(apply_chat_template(*t, {{"user", "Hi"}}, true), "<s>[INST] Hi [/INST]");
}

// Mistral-7B-Instruct-v0.1's template (no <<SYS>>): answers follow [/INST] directly.
TEST(ChatTemplate, Mistral) {
  auto t = detect_chat_template(
      "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
      "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + "
      "eos_token}}{% endif %}{% endfor %}");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->format, ChatFormat::kMistral);
  EXPECT_EQ(apply_chat_template(*t, kConversation, true),
            "<s>[INST] Hi! [/INST]Hello. How can I help?</s>[INST] Tell me a joke. [/INST]");
  EXPECT_EQ(apply_chat_template(*t, {{"system", "Be brief."}, {"user", "Hi"}}, true),
            "<s>[INST] Be brief.\n\nHi [/INST]");
}

// Gemma 3's template: "model" turns, contents trimmed, the system prompt opening the first user turn.
TEST(ChatTemplate, Gemma) {
  auto t = detect_chat_template(
      "{{ bos_token }}{%- for message in loop_messages -%}{{ '<start_of_turn>' + role + '\n' + "
      "(first_user_prefix if loop.first else \"\") }}{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
      "{%- endfor -%}{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->format, ChatFormat::kGemma);
  EXPECT_EQ(apply_chat_template(*t, kConversation, true),
            "<start_of_turn>user\nHi!<end_of_turn>\n<start_of_turn>model\nHello. How can I help?<end_of_turn>\n"
            "<start_of_turn>user\nTell me a joke.<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(apply_chat_template(*t, {{"system", " Be brief. "}, {"user", "Hi "}}, false),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n");
}

TEST(ChatTemplate, NamesAndErrors) {
  for (ChatFormat f : {ChatFormat::kChatML, ChatFormat::kLlama2, ChatFormat::kLlama3, ChatFormat::kMistral,
                       ChatFormat::kGemma}) {
    auto t = chat_template_from_name(chat_format_name(f));
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->format, f);
  }
  auto bad_name = chat_template_from_name("vicuna");
  ASSERT_FALSE(bad_name.ok());
  EXPECT_NE(bad_name.status().message().find("chatml, llama2, llama3"), std::string::npos);

  auto unknown = detect_chat_template("{{ messages[0]['content'] }}");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(unknown.status().message().find("--chat-template"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("chatml, llama2, llama3"), std::string::npos);
}

}  // namespace
}  // namespace joule
