// TLS under any codec, through OpenSSL memory BIOs: the connection driver and the scenarios stay
// as they are; the inner codec sees plaintext and the socket sees TLS. The certificate is not
// checked: the benchmark measures what TLS costs the server, not whom to trust.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

#include "adapter.hpp"

namespace parley::bench {
namespace {

// What one SSL_read hands the inner codec at most (a TLS record's plaintext).
constexpr std::size_t kPlainChunk = 16384;

class TlsCodec final : public Codec {
 public:
  TlsCodec(SSL_CTX* context, std::unique_ptr<Codec> inner) : inner_(std::move(inner)) {
    ssl_ = SSL_new(context);
    if (ssl_ == nullptr) throw std::runtime_error("SSL_new failed");
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, rbio, wbio);  // ssl_ owns both now
    rbio_ = rbio;
    wbio_ = wbio;
    SSL_set_connect_state(ssl_);
  }
  ~TlsCodec() override { SSL_free(ssl_); }
  TlsCodec(const TlsCodec&) = delete;
  TlsCodec& operator=(const TlsCodec&) = delete;

  void start(Bytes& out) override {
    SSL_do_handshake(ssl_);
    take_ciphertext(out);
  }

  void publish(std::size_t room, std::string_view text, Bytes& out) override {
    Bytes plain;
    inner_->publish(room, text, plain);
    seal(plain, out);
  }

  void close(Bytes& out) override {
    Bytes plain;
    inner_->close(plain);
    seal(plain, out);
  }

 protected:
  std::size_t consume(ByteView data, Bytes& out, CodecEvents& events) override {
    BIO_write(rbio_, data.data(), static_cast<int>(data.size()));
    Bytes plain_out;
    if (!established_) {
      const int r = SSL_do_handshake(ssl_);
      if (r != 1) {
        const int error = SSL_get_error(ssl_, r);
        take_ciphertext(out);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
          ERR_clear_error();
          fail(events, "TLS handshake failed");
        }
        return data.size();
      }
      established_ = true;
      inner_->start(plain_out);
    }
    for (;;) {
      read_buffer_.resize(kPlainChunk);
      const int n = SSL_read(ssl_, read_buffer_.data(), static_cast<int>(read_buffer_.size()));
      if (n <= 0) break;
      inner_->on_bytes(ByteView(read_buffer_.data(), static_cast<std::size_t>(n)), plain_out,
                       events);
      if (inner_->failed()) {
        fail(events, "inner codec failed");
        return data.size();
      }
    }
    seal(plain_out, out);
    take_ciphertext(out);
    return data.size();
  }

 private:
  void seal(const Bytes& plain, Bytes& out) {
    if (!plain.empty()) SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    take_ciphertext(out);
  }
  void take_ciphertext(Bytes& out) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(wbio_, &data);
    if (n <= 0) return;
    out.insert(out.end(), reinterpret_cast<std::uint8_t*>(data),
               reinterpret_cast<std::uint8_t*>(data) + n);
    (void)BIO_reset(wbio_);
  }

  std::unique_ptr<Codec> inner_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;
  BIO* wbio_ = nullptr;
  Bytes read_buffer_;
  bool established_ = false;
};

class TlsSystem final : public System {
 public:
  explicit TlsSystem(std::unique_ptr<System> inner) : inner_(std::move(inner)) {
    context_ = SSL_CTX_new(TLS_client_method());
    if (context_ == nullptr) throw std::runtime_error("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(context_, TLS1_2_VERSION);
    SSL_CTX_set_verify(context_, SSL_VERIFY_NONE, nullptr);
    static constexpr unsigned char kAlpn[] = {8, 'p', 'a', 'r', 'l', 'e', 'y', '/', '1'};
    SSL_CTX_set_alpn_protos(context_, kAlpn, sizeof kAlpn);
    SSL_CTX_set_mode(context_, SSL_MODE_RELEASE_BUFFERS);
  }
  ~TlsSystem() override { SSL_CTX_free(context_); }
  TlsSystem(const TlsSystem&) = delete;
  TlsSystem& operator=(const TlsSystem&) = delete;

  std::string name() const override { return inner_->name() + "+tls"; }
  std::unique_ptr<Codec> make(const CodecOptions& options) override {
    return std::make_unique<TlsCodec>(context_, inner_->make(options));
  }
  std::string room_name(std::size_t index) const override { return inner_->room_name(index); }

 private:
  std::unique_ptr<System> inner_;
  SSL_CTX* context_ = nullptr;
};

}  // namespace

std::unique_ptr<System> make_tls_system(std::unique_ptr<System> inner) {
  return std::make_unique<TlsSystem>(std::move(inner));
}

}  // namespace parley::bench
