// The loader's entry points and the sections other than policies and clients.

#include "loader.hpp"

#include <pgsieve/wire/scram.hpp>

#include <boost/url/parse.hpp>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <span>
#include <fstream>
#include <utility>
#include <sstream>

namespace pgsieve::config {

using namespace detail;

namespace {
// The first 16 hex digits of the text's SHA-256: names the exact rules a
// verdict was made under, across restarts and machines.
std::string version_of(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
    std::string hex;
    for (unsigned int i = 0; i < 8 && i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
    return hex;
}
}  // namespace

std::string detail::loader::resolve_path(const std::string& path) const {
    const std::filesystem::path p(path);
    return p.is_absolute() ? path : (base_dir / p).lexically_normal().string();
}

const located* detail::loader::require(const std::vector<std::pair<std::string, located>>& fields,
                                       const located& parent, std::string_view key) {
    if (const auto* found = find(fields, key)) return found;
    reader.error(parent.line, join_key(parent.key, key), "is required");
    return nullptr;
}

// Exactly one source for a secret: `<name>` inline (only when `inline_ok`),
// `<name>_env` or `<name>_file`. Returns the value and where it was named.
std::optional<secret> detail::read_secret(loader& l, const std::vector<std::pair<std::string, located>>& fields,
                                          const located& parent, const std::string& name, bool inline_ok, bool required) {
    const located* sources[] = {find(fields, name), find(fields, name + "_env"), find(fields, name + "_file")};
    const auto given = std::count_if(std::begin(sources), std::end(sources), [](auto* p) { return p != nullptr; });
    if (given > 1) {
        l.reader.error(parent.line, join_key(parent.key, name),
                       fmt::format("give only one of {0}, {0}_env and {0}_file", name));
        return std::nullopt;
    }
    if (given == 0) {
        if (required)
            l.reader.error(parent.line, join_key(parent.key, name),
                           fmt::format("is required (as {0}, {0}_env or {0}_file)", name));
        return std::nullopt;
    }
    if (const auto* at = sources[0]) {
        if (!inline_ok) {
            l.reader.error(*at, fmt::format("secrets are not accepted inline; use {0}_env or {0}_file", name));
            return std::nullopt;
        }
        auto v = l.reader.string(*at);
        if (!v) return std::nullopt;
        return secret{std::move(*v), *at, true};
    }
    if (const auto* at = sources[1]) {
        auto var = l.reader.string(*at);
        if (!var) return std::nullopt;
        auto v = l.env.getenv(*var);
        if (!v || v->empty()) {
            l.reader.error(*at, fmt::format("environment variable {} is not set or empty", *var));
            return std::nullopt;
        }
        return secret{std::move(*v), *at};
    }
    const auto* at = sources[2];
    auto path = l.reader.string(*at);
    if (!path) return std::nullopt;
    const auto full = l.resolve_path(*path);
    auto text = l.env.read_file(full);
    if (!text) {
        l.reader.error(*at, fmt::format("cannot read {}", full));
        return std::nullopt;
    }
    // The secret is the file's first line, without its line ending.
    std::string first = text->substr(0, text->find('\n'));
    if (!first.empty() && first.back() == '\r') first.pop_back();
    if (first.empty()) {
        l.reader.error(*at, fmt::format("{} has an empty first line", full));
        return std::nullopt;
    }
    return secret{std::move(first), *at};
}

namespace {

std::optional<std::uint16_t> read_port(loader& l, const located& at) {
    const auto v = l.reader.integer(at, 1, 65535);
    return v ? std::optional<std::uint16_t>(static_cast<std::uint16_t>(*v)) : std::nullopt;
}

// A path the process must be able to read at start (certificates, keys).
std::optional<std::string> read_readable_path(loader& l, const located& at) {
    auto path = l.reader.string(at);
    if (!path) return std::nullopt;
    auto full = l.resolve_path(*path);
    if (!l.env.read_file(full)) {
        l.reader.error(at, fmt::format("cannot read {}", full));
        return std::nullopt;
    }
    return full;
}

void read_listen(loader& l, const located& at) {
    auto& out = l.cfg.listen;
    const auto fields = l.reader.mapping(
        at, {"address", "port", "tls", "max_connections", "auth_timeout", "idle_timeout", "max_message_bytes",
             "max_statement_bytes", "max_statements_per_query", "analysis_timeout"});
    if (const auto* f = find(fields, "address")) {
        if (auto v = l.reader.string(*f)) out.address = *v;
    }
    if (const auto* f = find(fields, "port")) {
        if (auto v = read_port(l, *f)) out.port = *v;
    }
    if (const auto* f = find(fields, "tls")) {
        const auto tls = l.reader.mapping(*f, {"cert_file", "key_file", "mode"});
        tls_settings t;
        if (const auto* c = l.require(tls, *f, "cert_file")) t.cert_file = read_readable_path(l, *c).value_or("");
        if (const auto* k = l.require(tls, *f, "key_file")) t.key_file = read_readable_path(l, *k).value_or("");
        if (const auto* m = find(tls, "mode")) {
            if (auto v = l.reader.one_of(*m, {"prefer", "require"})) t.mode = static_cast<tls_mode>(*v);
        }
        out.tls = t;
    }
    if (const auto* f = find(fields, "max_connections")) {
        if (auto v = l.reader.integer(*f, 1, 1'000'000)) out.max_connections = static_cast<int>(*v);
    }
    if (const auto* f = find(fields, "auth_timeout")) {
        if (auto v = l.reader.duration_value(*f, false)) out.auth_timeout = *v;
    }
    if (const auto* f = find(fields, "idle_timeout")) {
        if (auto v = l.reader.duration_value(*f, true)) out.idle_timeout = *v;
    }
    if (const auto* f = find(fields, "max_message_bytes")) {
        // PostgreSQL itself never accepts a message over 1 GiB (MaxAllocSize).
        if (auto v = l.reader.integer(*f, 8192, 1ll << 30)) out.max_message_bytes = static_cast<std::uint64_t>(*v);
    }
    if (const auto* f = find(fields, "max_statement_bytes")) {
        // Each byte of SQL costs the analysis memory (about 40 bytes of parse
        // tree a byte) and stack: bounded well below a message.
        if (auto v = l.reader.integer(*f, 1024, 8ll << 20)) out.max_statement_bytes = static_cast<std::uint64_t>(*v);
    }
    if (const auto* f = find(fields, "max_statements_per_query")) {
        if (auto v = l.reader.integer(*f, 1, 10'000)) out.max_statements_per_query = static_cast<std::size_t>(*v);
    }
    if (const auto* f = find(fields, "analysis_timeout")) {
        if (auto v = l.reader.duration_value(*f, false)) out.analysis_timeout = *v;
    }
}

void read_admin(loader& l, const located& at) {
    admin_settings a;
    const auto fields = l.reader.mapping(at, {"address", "port"});
    if (const auto* f = find(fields, "address")) {
        if (auto v = l.reader.string(*f)) a.address = *v;
    }
    if (const auto* f = find(fields, "port")) {
        if (auto v = read_port(l, *f)) a.port = *v;
    }
    l.cfg.admin = a;
}

// `host:port` (port defaults to 6432), as the load balancer's backends are written.
std::optional<peer_address> read_peer(loader& l, const located& at) {
    const auto text = l.reader.string(at);
    if (!text) return std::nullopt;
    peer_address peer;
    const auto colon = text->rfind(':');
    peer.host = text->substr(0, colon);
    if (colon != std::string::npos) {
        const auto port = text->substr(colon + 1);
        int value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
            l.reader.error(at, fmt::format("\"{}\" is not host:port (a port is 1 to 65535)", *text));
            return std::nullopt;
        }
        peer.port = static_cast<std::uint16_t>(value);
    }
    if (peer.host.empty()) {
        l.reader.error(at, fmt::format("\"{}\" names no host", *text));
        return std::nullopt;
    }
    return peer;
}

void read_cluster(loader& l, const located& at) {
    auto& out = l.cfg.cluster;
    const auto fields = l.reader.mapping(at, {"instance_id", "peers", "peer_listen"});
    if (const auto* f = find(fields, "instance_id")) out.instance_id = l.reader.string(*f).value_or("");
    if (const auto* f = find(fields, "peer_listen")) {
        if (auto address = read_peer(l, *f)) {
            if (address->host.size() > 2 && address->host.front() == '[' && address->host.back() == ']')
                address->host = address->host.substr(1, address->host.size() - 2);  // [::]:6433
            in6_addr ignored{};
            if (inet_pton(AF_INET, address->host.c_str(), &ignored) == 1 ||
                inet_pton(AF_INET6, address->host.c_str(), &ignored) == 1)
                out.peer_listen = std::move(*address);
            else
                l.reader.error(*f, fmt::format("\"{}\" is not an IP address and port to listen on (e.g. 0.0.0.0:6433)",
                                               address->host));
        }
    }
    if (const auto* f = find(fields, "peers")) {
        for (const auto& item : l.reader.sequence(*f)) {
            // host:port, or {address: host:port, instance: NAME}.
            std::optional<peer_address> peer;
            std::optional<std::string> instance;
            if (item.node && item.node.IsMap()) {
                const auto entry = l.reader.mapping(item, {"address", "instance"});
                if (const auto* a = l.require(entry, item, "address")) peer = read_peer(l, *a);
                if (const auto* i = find(entry, "instance")) instance = l.reader.string(*i);
            } else {
                peer = read_peer(l, item);
            }
            if (!peer) continue;
            if (instance) {
                peer->instance = *instance;
            } else {
                in6_addr ignored{};
                const bool address = inet_pton(AF_INET, peer->host.c_str(), &ignored) == 1 ||
                                     inet_pton(AF_INET6, peer->host.c_str(), &ignored) == 1;
                const auto dot = peer->host.find('.');
                if (!address && dot != std::string::npos) peer->instance = peer->host.substr(0, dot);
            }
            out.peers.push_back(std::move(*peer));
        }
        // Forwarded cancels are taken only on the peer port (never on the client port).
        if (!out.peers.empty() && !out.peer_listen)
            l.reader.error(*f, "cluster.peers needs cluster.peer_listen: peers forward cancels to each other's peer "
                               "port, which takes them only from the peers' addresses");
    }
}

// Where and how to log in to a PostgreSQL server: the upstream, or the
// central audit store.
constexpr std::string_view connection_keys[] = {"host",     "port",          "database",      "user",
                                               "password", "password_env",  "password_file", "sslmode",
                                               "sslrootcert"};

void read_connection(loader& l, const located& at, const std::vector<std::pair<std::string, located>>& fields,
                     upstream_settings& out) {
    if (const auto* f = l.require(fields, at, "host")) out.host = l.reader.string(*f).value_or("");
    if (const auto* f = find(fields, "port")) {
        if (auto v = read_port(l, *f)) out.port = *v;
    }
    if (const auto* f = l.require(fields, at, "database")) {
        if (auto v = l.reader.string(*f)) out.database = l.reader.identifier(*f, *v).value_or("");
    }
    if (const auto* f = l.require(fields, at, "user")) {
        if (auto v = l.reader.string(*f)) out.user = l.reader.identifier(*f, *v).value_or("");
    }
    if (auto s = read_secret(l, fields, at, "password", /*inline_ok=*/false, /*required=*/false)) {
        if (auto prepared = wire::scram::prepare_password(s->value); !prepared)
            l.reader.error(s->at, prepared.error().detail);
        out.password = std::move(s->value);
    }
    if (const auto* f = find(fields, "sslmode")) {
        if (auto v = l.reader.one_of(*f, {"disable", "prefer", "require", "verify-full"})) out.ssl = static_cast<sslmode>(*v);
    }
    if (const auto* f = find(fields, "sslrootcert")) {
        out.sslrootcert = read_readable_path(l, *f).value_or("");
    } else if (out.ssl == sslmode::verify_full) {
        l.reader.error(at.line, join_key(at.key, "sslrootcert"), "is required with sslmode: verify-full");
    }
}

void read_upstream(loader& l, const located& at) {
    auto& out = l.cfg.upstream;
    std::vector<std::string_view> keys(std::begin(connection_keys), std::end(connection_keys));
    keys.insert(keys.end(), {"search_path", "catalog_refresh", "allow_privileged_role", "wider_privileges"});
    const auto fields = l.reader.mapping(at, keys);
    read_connection(l, at, fields, out);
    if (const auto* f = find(fields, "search_path")) {
        if (auto v = l.reader.string_list(*f, false)) {
            out.search_path.clear();
            for (const auto& schema : *v) {
                if (auto id = l.reader.identifier(*f, schema)) out.search_path.push_back(*id);
            }
        }
    }
    if (const auto* f = find(fields, "catalog_refresh")) {
        if (auto v = l.reader.duration_value(*f, false)) out.catalog_refresh = *v;
    }
    if (const auto* f = find(fields, "allow_privileged_role")) {
        if (auto v = l.reader.boolean(*f)) out.allow_privileged_role = *v;
    }
    if (const auto* f = find(fields, "wider_privileges")) {
        if (auto v = l.reader.one_of(*f, {"warn", "refuse"})) out.wider_privileges = static_cast<privilege_check>(*v);
    }
}

}  // namespace

std::optional<http_endpoint> detail::read_http_url(loader& l, const located& f) {
    const auto text = l.reader.string(f);
    if (!text) return std::nullopt;
    http_endpoint out;
    out.endpoint = *text;
    const auto parsed = boost::urls::parse_uri(*text);
    if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https")) {
        l.reader.error(f, fmt::format("\"{}\": expected http(s)://HOST[:PORT]/PATH", *text));
        return std::nullopt;
    }
    const auto& u = *parsed;
    out.tls = u.scheme() == "https";
    if (u.has_userinfo() || u.has_query() || u.has_fragment()) {
        l.reader.error(f, fmt::format("\"{}\": only a host, a port and a path are understood", *text));
        return std::nullopt;
    }
    // A name, or an IPv4/IPv6 address (without its brackets).
    out.host = u.host_type() == boost::urls::host_type::name ? std::string(u.host_name()) : std::string(u.host_address());
    if (out.host.empty()) {
        l.reader.error(f, fmt::format("\"{}\" names no host", *text));
        return std::nullopt;
    }
    out.port = out.tls ? 443 : 80;
    if (u.has_port()) {
        const auto port = u.port();
        int value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
            l.reader.error(f, fmt::format("\"{}\": the port must be 1 to 65535", *text));
            return std::nullopt;
        }
        out.port = static_cast<std::uint16_t>(value);
    }
    out.path = u.encoded_path().empty() ? std::string("/") : std::string(u.encoded_path());
    return out;
}

namespace {

std::optional<http_endpoint> read_otlp(loader& l, const located& at) {
    const auto fields = l.reader.mapping(at, {"endpoint", "ca_file"});
    const auto* f = l.require(fields, at, "endpoint");
    if (!f) return std::nullopt;
    auto out = read_http_url(l, *f);
    if (!out) return std::nullopt;
    // OTLP/HTTP's defaults: port 4318, /v1/logs.
    const auto parsed = boost::urls::parse_uri(out->endpoint);
    if (!parsed->has_port()) out->port = 4318;
    if (parsed->encoded_path().empty()) out->path = "/v1/logs";
    if (const auto* ca = find(fields, "ca_file")) {
        if (!out->tls) l.reader.error(*ca, "applies to https:// endpoints only");
        else if (auto path = read_readable_path(l, *ca)) out->ca_file = *path;
    }
    return out;
}

void read_audit(loader& l, const located& at) {
    auto& out = l.cfg.audit;
    const auto fields =
        l.reader.mapping(at, {"sqlite", "store_sql", "on_failure", "on_overflow", "flush_interval", "export", "retention",
                              "checkpoint_key_env", "checkpoint_key_file", "checkpoint_interval"});
    if (const auto* f = find(fields, "export")) {
        const auto destinations = l.reader.mapping(*f, {"otlp", "postgresql", "stalled_after"});
        if (const auto* o = find(destinations, "otlp")) out.otlp = read_otlp(l, *o);
        if (const auto* o = find(destinations, "stalled_after")) {
            if (auto v = l.reader.duration_value(*o, false)) out.stalled_after = *v;
        }
        if (const auto* o = find(destinations, "postgresql")) {
            upstream_settings store;
            read_connection(l, *o, l.reader.mapping(*o, std::span<const std::string_view>(connection_keys)), store);
            out.postgresql = std::move(store);
        }
    }
    if (const auto* f = l.require(fields, at, "sqlite")) {
        if (auto v = l.reader.string(*f)) {
            if (v->empty()) l.reader.error(*f, "must name a file");
            else out.sqlite = l.resolve_path(*v);
        }
    }
    if (const auto* f = find(fields, "store_sql")) {
        if (auto v = l.reader.one_of(*f, {"full", "normalized"})) out.sql = static_cast<store_sql>(*v);
    }
    if (const auto* f = find(fields, "on_failure")) {
        if (auto v = l.reader.one_of(*f, {"block", "allow"})) out.failure = static_cast<on_failure>(*v);
    }
    if (const auto* f = find(fields, "on_overflow")) {
        if (auto v = l.reader.one_of(*f, {"wait", "drop"})) out.overflow = static_cast<on_overflow>(*v);
    }
    if (const auto* f = find(fields, "flush_interval")) {
        if (auto v = l.reader.duration_value(*f, false)) out.flush_interval = *v;
    }
    if (const auto* f = find(fields, "retention")) {
        if (auto v = l.reader.duration_value(*f, false)) out.retention = *v;
        // Only shipped rows are deleted: without a destination nothing ever
        // would be, and a setting that silently does nothing misleads.
        if (!out.otlp && !out.postgresql)
            l.reader.error(*f, "deletes only rows already shipped: configure audit.export (otlp or postgresql) too");
    }
    if (auto key = read_secret(l, fields, at, "checkpoint_key", /*inline_ok=*/false, /*required=*/false)) {
        // A short key makes the signatures guessable offline.
        if (key->value.size() < 32) l.reader.error(key->at, "must be at least 32 bytes (e.g. openssl rand -hex 32)");
        else out.checkpoint_key = std::move(key->value);
    }
    if (const auto* f = find(fields, "checkpoint_interval")) {
        if (auto v = l.reader.duration_value(*f, false)) out.checkpoint_interval = *v;
    }
}

}  // namespace

load_result load_text(const std::string& text, const std::string& file, const environment& env) {
    std::vector<load_error> errors;
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        errors.push_back(load_error{file, e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "invalid YAML: " + e.msg});
        return unexpected(std::move(errors));
    }

    auto cfg = std::make_shared<config>();
    cfg->source_path = file;
    cfg->source_text = text;
    cfg->version = version_of(text);
    yaml_reader reader(file, errors);
    loader l{reader, env, std::filesystem::path(file).parent_path(), *cfg};

    const located top{root, "", 1};
    if (top.is_null()) {
        reader.error(0, "", "the file is empty");
        return unexpected(std::move(errors));
    }
    const auto fields =
        reader.mapping(top, {"listen", "admin", "cluster", "upstream", "audit", "classification", "clients", "policies"});
    // Referenced things first: classification labels (used by policies), then
    // policies (used by clients).
    if (const auto* f = find(fields, "listen")) read_listen(l, *f);
    if (const auto* f = find(fields, "admin")) read_admin(l, *f);
    if (const auto* f = find(fields, "cluster")) read_cluster(l, *f);
    if (const auto* f = l.require(fields, top, "upstream")) read_upstream(l, *f);
    if (const auto* f = l.require(fields, top, "audit")) read_audit(l, *f);
    if (const auto* f = find(fields, "classification")) read_classification(l, *f);
    const auto* policies = l.require(fields, top, "policies");
    if (policies) read_policies(l, *policies);
    if (const auto* f = l.require(fields, top, "clients")) read_clients(l, *f);
    {
        YAML::Emitter grants;
        grants << YAML::BeginSeq;
        for (const char* key : {"classification", "policies", "clients"}) {
            const auto node = std::as_const(root)[key];
            if (node.IsDefined()) grants << node;
            else grants << YAML::Null;
        }
        grants << YAML::EndSeq;
        cfg->grants_version = version_of(grants.c_str());
    }
    if (policies && policies->node && policies->node.IsMap()) {
        std::vector<load_error> ignored;
        yaml_reader quiet(file, ignored);
        warn_unused_policies(*cfg, quiet.mapping(*policies));
    }

    if (!errors.empty()) {
        std::stable_sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
        return unexpected(std::move(errors));
    }
    return std::shared_ptr<const config>(std::move(cfg));
}

load_result load_file(const std::string& path, const environment& env) {
    auto text = env.read_file(path);
    if (!text) return unexpected(std::vector<load_error>{load_error{path, 0, "", "cannot read the file"}});
    return load_text(*text, path, env);
}

}  // namespace pgsieve::config
