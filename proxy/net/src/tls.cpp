#include "tls.hpp"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include <stdexcept>

namespace pgsieve::net {

namespace ssl = asio::ssl;

std::unique_ptr<ssl::context> make_client_side_tls(const config::tls_settings& tls) {
    auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    error_code ec;
    context->use_certificate_chain_file(tls.cert_file, ec);
    if (ec) throw std::runtime_error(fmt::format("listen.tls.cert_file {}: {}", tls.cert_file, ec.message()));
    context->use_private_key_file(tls.key_file, ssl::context::pem, ec);
    if (ec) throw std::runtime_error(fmt::format("listen.tls.key_file {}: {}", tls.key_file, ec.message()));
    return context;
}

std::unique_ptr<ssl::context> make_upstream_tls(const config::upstream_settings& upstream) {
    auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (upstream.ssl == config::sslmode::verify_full) {
        error_code ec;
        context->load_verify_file(upstream.sslrootcert, ec);
        if (ec)
            throw std::runtime_error(fmt::format("upstream.sslrootcert {}: {}", upstream.sslrootcert, ec.message()));
        context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    } else {
        // prefer / require: encrypted, not authenticated (as libpq without a root certificate).
        context->set_verify_mode(ssl::verify_none);
    }
    return context;
}

std::string server_end_point(SSL* ssl) {
    X509* cert = ssl ? SSL_get_certificate(ssl) : nullptr;
    if (!cert) return {};
    int digest_nid = NID_undef;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &digest_nid, nullptr)) return {};
    const EVP_MD* md = digest_nid == NID_md5 || digest_nid == NID_sha1 ? EVP_sha256() : EVP_get_digestbynid(digest_nid);
    if (!md) return {};
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!X509_digest(cert, md, hash, &length)) return {};
    return std::string(reinterpret_cast<const char*>(hash), length);
}

}  // namespace pgsieve::net
