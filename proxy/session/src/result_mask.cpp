#include <pgsieve/session/result_mask.hpp>

#include <pgsieve/common/hmac.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/message_io.hpp>

#include <algorithm>

namespace pgsieve::session {

namespace {

constexpr std::uint32_t text_oid = 25;

// Byte offsets of the first `n` UTF-8 characters' ends (invalid bytes count as one each).
std::vector<std::size_t> character_ends(std::string_view s) {
    std::vector<std::size_t> ends;
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
        if (i + n > s.size()) n = 1;
        i += n;
        ends.push_back(i);
    }
    return ends;
}

const policy::decision::masked_output* at(const masked_outputs& masked, std::size_t position) {
    const auto it = std::find_if(masked.begin(), masked.end(), [&](const auto& m) { return m.position == position; });
    return it == masked.end() ? nullptr : &*it;
}

}  // namespace

std::optional<std::string> mask_value(config::mask_method method, std::string_view value, mask_settings& s) {
    using m = config::mask_method;
    switch (method) {
        case m::null: return std::nullopt;
        case m::redact: return s.redact_text;
        case m::hash:
            // Without its key (the policy went with a reload) a hash could be
            // inverted by hashing every candidate: redacted instead.
            if (s.key.empty()) return s.redact_text;
            if (!s.hmac) s.hmac = std::make_shared<hmac_sha256>(s.key);
            return s.hmac->hex(value).substr(0, s.hash_length);
        case m::last4:
        case m::first4: {
            const auto ends = character_ends(value);
            if (ends.size() <= 4) return std::string(ends.size(), '*');  // too short to show a part of
            const std::size_t hidden = ends.size() - 4;
            if (method == m::last4) return std::string(hidden, '*') + std::string(value.substr(ends[hidden - 1]));
            return std::string(value.substr(0, ends[3])) + std::string(hidden, '*');
        }
        case m::email_domain: {
            const auto at = value.rfind('@');
            if (at == std::string_view::npos) return s.redact_text;
            return s.redact_text + std::string(value.substr(at));
        }
    }
    return s.redact_text;
}

std::optional<masked_bind> bind_with_masked_as_text(std::string_view body, const masked_outputs& masked,
                                                    std::size_t columns) {
    wire::message_reader r(body);
    r.cstring();  // portal
    r.cstring();  // statement
    const auto parameter_formats = r.uint16();
    r.bytes(2u * parameter_formats);
    const auto parameters = r.uint16();
    for (std::size_t i = 0; i < parameters && r.ok(); ++i) {
        const auto length = r.int32();
        if (length > 0) r.bytes(static_cast<std::size_t>(length));
    }
    const auto kept = body.size() - r.rest().size();
    const auto count = r.uint16();
    std::vector<std::int16_t> formats;
    for (std::size_t i = 0; i < count; ++i) formats.push_back(r.int16());
    if (!r.done() || count == 0) return std::nullopt;  // malformed, or every column in text
    if (count == 1) formats.assign(columns, formats[0]);  // one code for all: one per column
    auto client_formats = formats;
    bool changed = false;
    for (const auto& m : masked) {
        if (m.position < formats.size() && formats[m.position] != 0) {
            formats[m.position] = 0;
            changed = true;
        }
    }
    if (!changed) return std::nullopt;
    std::string out(body.substr(0, kept));
    const char n[2] = {char(formats.size() >> 8), char(formats.size())};
    out.append(n, 2);
    for (const auto f : formats) {
        const auto u = static_cast<std::uint16_t>(f);
        const char b[2] = {char(u >> 8), char(u)};
        out.append(b, 2);
    }
    return masked_bind{std::move(out), std::move(client_formats)};
}

std::string masked_row_description(std::string_view body, const masked_outputs& masked,
                                   const std::vector<std::int16_t>& client_formats, bool& agrees) {
    agrees = true;
    std::string out;
    if (body.size() < 2) {
        agrees = false;
        return out;
    }
    const auto fields = static_cast<std::uint16_t>(wire::load_int16(body.data()));
    wire::message_writer w(out);
    w.begin(wire::backend::row_description).int16(static_cast<std::int16_t>(fields));
    std::size_t p = 2;
    std::size_t seen = 0;
    for (std::size_t i = 0; i < fields; ++i) {
        const auto nul = body.find('\0', p);
        if (nul == std::string_view::npos || nul + 19 > body.size()) {
            agrees = false;
            break;
        }
        const auto name = body.substr(p, nul - p);
        const char* f = body.data() + nul + 1;
        const auto table = static_cast<std::uint32_t>(wire::load_int32(f));
        const auto* m = at(masked, i);
        w.cstring(name);
        if (m) {
            ++seen;
            // The analysis says this output is that table's column; PostgreSQL must agree (table OID and attnum).
            if (m->table_oid != 0 && table != m->table_oid) agrees = false;
            if (m->column_number != 0 && wire::load_int16(f + 4) != m->column_number) agrees = false;
            // Its format as the client asked (Bind asked PostgreSQL for text: text's binary is its bytes).
            const auto format = i < client_formats.size() ? client_formats[i] : wire::load_int16(f + 16);
            w.int32(static_cast<std::int32_t>(table)).int16(wire::load_int16(f + 4));
            w.int32(static_cast<std::int32_t>(text_oid)).int16(-1).int32(-1).int16(format);
        } else {
            out.append(f, 18);
        }
        p = nul + 19;
    }
    if (seen != masked.size()) agrees = false;  // a masked position past the last column
    w.end();
    return out;
}

std::string masked_data_row(std::string_view body, const masked_outputs& masked, mask_settings& s) {
    std::string out;
    if (body.size() < 2) return out;
    const auto fields = static_cast<std::uint16_t>(wire::load_int16(body.data()));
    wire::message_writer w(out);
    w.begin(wire::backend::data_row).int16(static_cast<std::int16_t>(fields));
    std::size_t p = 2;
    for (std::size_t i = 0; i < fields; ++i) {
        if (p + 4 > body.size()) return {};
        const auto length = wire::load_int32(body.data() + p);
        p += 4;
        std::optional<std::string_view> value;
        if (length >= 0) {
            if (p + static_cast<std::size_t>(length) > body.size()) return {};
            value = body.substr(p, static_cast<std::size_t>(length));
            p += static_cast<std::size_t>(length);
        }
        const auto* m = at(masked, i);
        if (!m) {
            out.append(body.data() + p - 4 - (value ? value->size() : 0), 4 + (value ? value->size() : 0));
            continue;
        }
        std::optional<std::string> masked_value;
        if (value) masked_value = mask_value(m->method, *value, s);
        if (!masked_value) {
            w.int32(-1);
        } else {
            w.int32(static_cast<std::int32_t>(masked_value->size()));
            out += *masked_value;
        }
    }
    if (p != body.size()) return {};
    w.end();
    return out;
}

}  // namespace pgsieve::session
