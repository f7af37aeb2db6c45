// Recoverable errors: Status (ok or code + message) and Expected<T> (value or Status).
// std::expected is C++23 and g++ 12 lacks it, so this is a small equivalent.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace joule {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // bad flag, bad parameter
  kNotFound,         // missing file, tensor, key
  kIo,               // open/read/mmap failed
  kFormat,           // malformed file contents
  kUnsupported,      // valid but not implemented (arch, type, template)
  kPermission,       // e.g. unreadable sensor file
  kResourceExhausted,  // a bounded queue or pool is full: retry later (HTTP 429)
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Status IoError(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
inline Status FormatError(std::string m) { return {ErrorCode::kFormat, std::move(m)}; }
inline Status Unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {ErrorCode::kResourceExhausted, std::move(m)}; }
inline Status InternalError(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Expected(Status status) : v_(std::move(status)) {    // NOLINT
    if (std::get<Status>(v_).ok()) std::abort();      // an Expected error must be an error
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace joule

// Propagate an error Status from an expression returning Status.
#define JOULE_RETURN_IF_ERROR(expr)          \
  do {                                       \
    ::joule::Status joule_s_ = (expr);       \
    if (!joule_s_.ok()) return joule_s_;     \
  } while (0)

#define JOULE_CONCAT_INNER_(a, b) a##b
#define JOULE_CONCAT_(a, b) JOULE_CONCAT_INNER_(a, b)
// JOULE_ASSIGN_OR_RETURN(auto x, ExpectedExpr()): binds the value or returns the error.
#define JOULE_ASSIGN_OR_RETURN(lhs, expr) \
  JOULE_ASSIGN_OR_RETURN_IMPL_(JOULE_CONCAT_(joule_e_, __LINE__), lhs, expr)
#define JOULE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
