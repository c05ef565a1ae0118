#include "tokens.hpp"

#include <pg_query.h>

#include <cstdint>
#include <string>

namespace pgsieve::parser::detail {

namespace {

// Just enough of protobuf's wire format for ScanResult { repeated ScanToken
// tokens = 2 } and ScanToken { int32 start = 1; int32 end = 2; Token token = 4 }.
struct reader {
    const std::uint8_t* at;
    const std::uint8_t* end;
    bool ok = true;

    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (at == end) {
                ok = false;
                return 0;
            }
            const auto b = *at++;
            v |= std::uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        ok = false;
        return 0;
    }
    // Skips a field of wire type `wt`.
    void skip(std::uint64_t wt) {
        switch (wt) {
            case 0: varint(); break;
            case 1: at = (end - at >= 8) ? at + 8 : (ok = false, end); break;
            case 2: {
                const auto n = varint();
                at = (std::uint64_t(end - at) >= n) ? at + n : (ok = false, end);
                break;
            }
            case 5: at = (end - at >= 4) ? at + 4 : (ok = false, end); break;
            default: ok = false;
        }
    }
};

}  // namespace

std::vector<token> scan(std::string_view text) {
    std::vector<token> out;
    const std::string copy(text);
    PgQueryScanResult result = pg_query_scan(copy.c_str());
    if (!result.error && result.pbuf.data) {
        reader r{reinterpret_cast<const std::uint8_t*>(result.pbuf.data),
                 reinterpret_cast<const std::uint8_t*>(result.pbuf.data) + result.pbuf.len};
        while (r.ok && r.at < r.end) {
            const auto key = r.varint();
            if (key >> 3 == 2 && (key & 7) == 2) {
                const auto n = r.varint();
                if (std::uint64_t(r.end - r.at) < n) break;
                reader t{r.at, r.at + n};
                token tok;
                while (t.ok && t.at < t.end) {
                    const auto k = t.varint();
                    if ((k & 7) != 0) {
                        t.skip(k & 7);
                        continue;
                    }
                    const auto v = static_cast<int>(t.varint());
                    if (k >> 3 == 1) tok.start = v;
                    else if (k >> 3 == 2) tok.end = v;
                    else if (k >> 3 == 4) tok.kind = v;
                }
                out.push_back(tok);
                r.at += n;
            } else {
                r.skip(key & 7);
            }
        }
    }
    pg_query_free_scan_result(result);
    return out;
}

std::size_t after_keyword(std::string_view text, int keyword) {
    int depth = 0;
    const auto tokens = scan(text);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const auto& t = tokens[i];
        if (t.kind == token_open_paren) ++depth;
        else if (t.kind == token_close_paren) --depth;
        else if (depth == 0 && t.kind == keyword && i + 1 < tokens.size())
            return static_cast<std::size_t>(tokens[i + 1].start);
    }
    return std::string_view::npos;
}

}  // namespace pgsieve::parser::detail
