// Encoding and in-place decoding of stored entries and Vary markers (layout in entry_codec.hpp).
#include "cache/entry_codec.hpp"

#include <bit>
#include <cstring>
#include <type_traits>

namespace portico::cache {
namespace {

constexpr char kEntryMagic[4] = {'P', 't', 'c', 'E'};
constexpr char kMarkerMagic[4] = {'P', 't', 'c', 'V'};
constexpr size_t kMarkerHeaderBytes = 12;

enum Flag : uint16_t {
    kNoCache = 1u << 0,
    kMustRevalidate = 1u << 1,
    kAuthReusable = 1u << 2,
    kHasValidator = 1u << 3,
};

// Little-endian on every host, so a file means the same everywhere; memcpy because map addresses
// are unaligned. (A byte loop here cost a third of a lookup: GCC does not fold it into one load.)
template <class U>
U to_little(U v) {
    if constexpr (std::endian::native == std::endian::big) {
        if constexpr (sizeof(U) == 2) return __builtin_bswap16(v);
        if constexpr (sizeof(U) == 4) return __builtin_bswap32(v);
        if constexpr (sizeof(U) == 8) return __builtin_bswap64(v);
    }
    return v;
}

template <class T>
void put_le(char* at, T value) {
    auto v = to_little(static_cast<std::make_unsigned_t<T>>(value));
    std::memcpy(at, &v, sizeof v);
}

template <class T>
T get_le(const char* at) {
    std::make_unsigned_t<T> v;
    std::memcpy(&v, at, sizeof v);
    return static_cast<T>(to_little(v));
}

int64_t seconds_of(Seconds s) { return static_cast<int64_t>(s.count()); }

// Tag records are {u16 length, bytes}; true when `block` holds exactly `count` whole records.
bool tag_block_valid(std::string_view block, size_t count) {
    size_t at = 0;
    for (size_t i = 0; i < count; ++i) {
        if (block.size() - at < 2) return false;
        size_t len = get_le<uint16_t>(block.data() + at);
        at += 2;
        if (block.size() - at < len) return false;
        at += len;
    }
    return at == block.size();
}

}  // namespace

std::string_view TagList::iterator::operator*() const {
    return {at_ + 2, get_le<uint16_t>(at_)};
}

TagList::iterator& TagList::iterator::operator++() {
    at_ += 2 + get_le<uint16_t>(at_);
    return *this;
}

ValueKind value_kind(std::string_view value) {
    if (value.size() < 4) return ValueKind::unknown;
    if (std::memcmp(value.data(), kEntryMagic, 4) == 0) return ValueKind::entry;
    if (std::memcmp(value.data(), kMarkerMagic, 4) == 0) return ValueKind::vary_marker;
    return ValueKind::unknown;
}

size_t encode_tag_block(std::span<const std::string> tags, std::string& out) {
    out.clear();
    size_t count = 0;
    for (const std::string& tag : tags) {
        if (tag.size() > 0xffff) continue;
        char len[2];
        put_le<uint16_t>(len, static_cast<uint16_t>(tag.size()));
        out.append(len, 2);
        out.append(tag);
        ++count;
    }
    return count;
}

size_t encoded_entry_size(const EntryRecord& e) {
    return kEntryHeaderBytes + e.object_key.size() + e.head.size() + e.tags.block().size() + e.body.size();
}

void encode_entry(const EntryRecord& e, char* out) {
    std::memcpy(out, kEntryMagic, 4);
    put_le<uint16_t>(out + 4, kEntryFormatVersion);
    uint16_t flags = (e.facts.no_cache ? kNoCache : 0) | (e.facts.must_revalidate ? kMustRevalidate : 0) |
                     (e.facts.auth_reusable ? kAuthReusable : 0) | (e.facts.has_validator ? kHasValidator : 0);
    put_le<uint16_t>(out + 6, flags);
    put_le<uint64_t>(out + 8, e.seq);
    put_le<int64_t>(out + 16, seconds_of(e.facts.response_time.time_since_epoch()));
    put_le<int64_t>(out + 24, seconds_of(e.facts.corrected_initial_age));
    put_le<int64_t>(out + 32, seconds_of(e.facts.lifetime));
    put_le<int64_t>(out + 40, seconds_of(e.facts.stale_while_revalidate));
    put_le<int64_t>(out + 48, seconds_of(e.facts.stale_if_error));
    put_le<uint16_t>(out + 56, static_cast<uint16_t>(e.status));
    put_le<uint16_t>(out + 58, static_cast<uint16_t>(e.tags.size()));
    put_le<uint32_t>(out + 60, static_cast<uint32_t>(e.object_key.size()));
    put_le<uint32_t>(out + 64, static_cast<uint32_t>(e.head.size()));
    put_le<uint32_t>(out + 68, static_cast<uint32_t>(e.tags.block().size()));
    put_le<uint64_t>(out + 72, static_cast<uint64_t>(e.body.size()));
    char* at = out + kEntryHeaderBytes;
    for (std::string_view part : {e.object_key, e.head, e.tags.block(), e.body}) {
        if (!part.empty()) std::memcpy(at, part.data(), part.size());
        at += part.size();
    }
}

std::string encode_entry(const EntryRecord& entry) {
    std::string out(encoded_entry_size(entry), '\0');
    encode_entry(entry, out.data());
    return out;
}

bool decode_entry(std::string_view value, EntryRecord& e) {
    if (value.size() < kEntryHeaderBytes || value_kind(value) != ValueKind::entry) return false;
    const char* p = value.data();
    if (get_le<uint16_t>(p + 4) != kEntryFormatVersion) return false;
    uint64_t key_len = get_le<uint32_t>(p + 60);
    uint64_t head_len = get_le<uint32_t>(p + 64);
    uint64_t tags_len = get_le<uint32_t>(p + 68);
    uint64_t body_len = get_le<uint64_t>(p + 72);
    // Each length is checked against what is left, so no sum can overflow.
    uint64_t left = value.size() - kEntryHeaderBytes;
    for (uint64_t len : {key_len, head_len, tags_len}) {
        if (len > left) return false;
        left -= len;
    }
    if (body_len != left) return false;

    uint16_t flags = get_le<uint16_t>(p + 6);
    e.seq = get_le<uint64_t>(p + 8);
    e.facts.response_time = Instant{Seconds{get_le<int64_t>(p + 16)}};
    e.facts.corrected_initial_age = Seconds{get_le<int64_t>(p + 24)};
    e.facts.lifetime = Seconds{get_le<int64_t>(p + 32)};
    e.facts.stale_while_revalidate = Seconds{get_le<int64_t>(p + 40)};
    e.facts.stale_if_error = Seconds{get_le<int64_t>(p + 48)};
    e.facts.no_cache = flags & kNoCache;
    e.facts.must_revalidate = flags & kMustRevalidate;
    e.facts.auth_reusable = flags & kAuthReusable;
    e.facts.has_validator = flags & kHasValidator;
    e.status = get_le<uint16_t>(p + 56);
    size_t tag_count = get_le<uint16_t>(p + 58);
    size_t at = kEntryHeaderBytes;
    e.object_key = value.substr(at, key_len);
    at += key_len;
    e.head = value.substr(at, head_len);
    at += head_len;
    std::string_view tag_block = value.substr(at, tags_len);
    at += tags_len;
    e.body = value.substr(at);
    if (!tag_block_valid(tag_block, tag_count)) return false;
    e.tags = TagList(tag_block, tag_count);
    return true;
}

std::optional<EntryRecord> decode_entry(std::string_view value) {
    std::optional<EntryRecord> out(std::in_place);
    if (!decode_entry(value, *out)) out.reset();
    return out;
}

std::optional<uint64_t> entry_seq(std::string_view value) {
    if (value.size() < kEntryHeaderBytes || value_kind(value) != ValueKind::entry) return std::nullopt;
    if (get_le<uint16_t>(value.data() + 4) != kEntryFormatVersion) return std::nullopt;
    return get_le<uint64_t>(value.data() + 8);
}

void set_entry_seq(char* value, uint64_t seq) { put_le<uint64_t>(value + 8, seq); }

std::string encode_vary_marker(std::string_view primary, std::string_view names) {
    std::string out(kMarkerHeaderBytes, '\0');
    std::memcpy(out.data(), kMarkerMagic, 4);
    put_le<uint16_t>(out.data() + 4, kEntryFormatVersion);
    put_le<uint32_t>(out.data() + 8, static_cast<uint32_t>(primary.size()));
    out.append(primary);
    out.append(names);
    return out;
}

std::optional<VaryMarker> decode_vary_marker(std::string_view value) {
    if (value.size() < kMarkerHeaderBytes || value_kind(value) != ValueKind::vary_marker) return std::nullopt;
    if (get_le<uint16_t>(value.data() + 4) != kEntryFormatVersion) return std::nullopt;
    uint64_t primary_len = get_le<uint32_t>(value.data() + 8);
    if (primary_len > value.size() - kMarkerHeaderBytes) return std::nullopt;
    VaryMarker m;
    m.primary = value.substr(kMarkerHeaderBytes, primary_len);
    m.names = value.substr(kMarkerHeaderBytes + primary_len);
    if (m.names.empty()) return std::nullopt;  // a marker without names would make every variant ""
    return m;
}

void append_head_line(std::string& block, std::string_view name, std::string_view value) {
    block.append(name);
    block.append(": ");
    block.append(value);
    block.append("\r\n");
}

void parse_head_block(std::string_view block, std::vector<HeaderField>& out) {
    out.clear();
    while (!block.empty()) {
        size_t eol = block.find("\r\n");
        std::string_view line = block.substr(0, eol);
        block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 2);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) continue;
        out.push_back(HeaderField{line.substr(0, colon), trim_ows(line.substr(colon + 1))});
    }
}

}  // namespace portico::cache
