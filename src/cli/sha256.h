// Sha256: the SHA-256 digest, so that `aoe cp --verify` prints the same checksum as sha256sum
// and a person can compare it with any other copy of the image. A thin owner of an OpenSSL
// digest context (libcrypto); not thread-safe (use one per thread).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace aoe::cli {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(std::span<const std::byte> data);
  // Finishes the digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> Final();
  // Final() as 64 lowercase hex digits, as sha256sum prints it.
  std::string HexFinal();

 private:
  struct FreeContext {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, FreeContext> ctx_;
};

}  // namespace aoe::cli
