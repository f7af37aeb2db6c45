#include "core/file.h"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace joule {
namespace {

// "<what> <path>" for error messages, or the path alone.
std::string describe(const std::string& path, const std::string& what) {
  return what.empty() ? path : what + " " + path;
}

}  // namespace

Expected<std::string> read_file(const std::string& path, const std::string& what) {
  const std::string named = describe(path, what);
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + named);
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return IoError("cannot read " + named);
  return s.str();
}

Expected<std::string> read_file_tail(const std::string& path, size_t max_bytes, const std::string& what) {
  const std::string named = describe(path, what);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return NotFound("cannot open " + named);
  const std::streamoff size = in.tellg();
  const std::streamoff start = size > std::streamoff(max_bytes) ? size - std::streamoff(max_bytes) : 0;
  std::string bytes(static_cast<size_t>(size - start), '\0');
  in.seekg(start);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) return IoError("cannot read " + named);
  return bytes;
}

Expected<std::string> sha256_file(const std::string& path, const std::string& what) {
  const std::string named = describe(path, what);
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + named);
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return InternalError("SHA-256 is unavailable");
  std::vector<char> buf(size_t{1} << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return IoError("cannot read " + named);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

}  // namespace joule
