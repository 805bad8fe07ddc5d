// One stored response as one LMDB value, read back in place (views into the memory map, no copy),
// and the small "this resource varies" marker that can sit in the same slot.
//
// Entry value layout (integers little-endian, offsets in bytes):
//    0  magic "PtcE"                 4  u16 format version   6  u16 flags (EntryFacts bools)
//    8  u64 LRU sequence number      16 i64 response_time (Unix seconds)
//   24  i64 corrected_initial_age    32 i64 lifetime   40 i64 stale_while_revalidate
//   48  i64 stale_if_error           56 u16 status     58 u16 tag count
//   60  u32 object key length        64 u32 head length   68 u32 tag block length
//   72  u64 body length              80 object key, head block, tag block ({u16 length, bytes}*), body
// The body comes last so that a reader streaming it touches only the pages it sends.
//
// Vary marker layout: magic "PtcV", u16 version, u16 0, u32 primary length, primary, Vary names.
//
// Both carry the full key they were stored under: LMDB keys are at most 511 bytes, so long URLs are
// stored under a hashed key (lmdb_store.hpp) and the reader confirms the match against these bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/headers_view.hpp"
#include "cache/policy.hpp"

namespace portico::cache {

// Bumped whenever the layout changes; a value of another version reads as "not an entry" (a miss),
// and the store's meta record makes a whole old-format file be moved aside at open.
inline constexpr uint16_t kEntryFormatVersion = 1;
inline constexpr size_t kEntryHeaderBytes = 80;

// The tags of a stored entry, iterated in place ({u16 length, bytes} records, checked at decode).
class TagList {
public:
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = std::string_view;

        iterator() = default;
        explicit iterator(const char* at) : at_(at) {}
        std::string_view operator*() const;
        iterator& operator++();
        iterator operator++(int) { iterator old = *this; ++*this; return old; }
        bool operator==(const iterator& other) const { return at_ == other.at_; }

    private:
        const char* at_ = nullptr;
    };

    TagList() = default;
    TagList(std::string_view block, size_t count) : block_(block), count_(count) {}
    iterator begin() const { return iterator(block_.data()); }
    iterator end() const { return iterator(block_.data() + block_.size()); }
    size_t size() const { return count_; }
    bool empty() const { return count_ == 0; }
    std::string_view block() const { return block_; }  // the encoded records, for re-encoding as is

private:
    std::string_view block_;
    size_t count_ = 0;
};

// What an entry value holds. As a decode result every view points into the value; to encode, the
// views point at the caller's data.
struct EntryRecord {
    uint64_t seq = 0;             // LRU position (larger = more recently stored or touched)
    EntryFacts facts;
    int status = 200;
    std::string_view object_key;  // primary + '\0' + variant, full length
    std::string_view head;        // "Name: value\r\n" lines as sent to a client
    TagList tags;                 // encode: block from encode_tag_block
    std::string_view body;

    std::string_view primary() const { return object_key.substr(0, object_key.find('\0')); }
    std::string_view variant() const {
        size_t nul = object_key.find('\0');
        return nul == std::string_view::npos ? std::string_view{} : object_key.substr(nul + 1);
    }
};

enum class ValueKind : unsigned char { entry, vary_marker, unknown };
// From the magic only (no validation): lets a scan tell entries from markers cheaply.
ValueKind value_kind(std::string_view value);

// The tag records for `tags` appended to `out` (cleared first); returns the count. Tags longer
// than 65535 bytes cannot be encoded and are skipped (surrogate_keys() caps them far lower).
size_t encode_tag_block(std::span<const std::string> tags, std::string& out);

// Exact size of the encoded entry, and the encoder writing exactly that many bytes to `out` (LMDB's
// MDB_RESERVE space, so the body is copied once, straight into the map).
size_t encoded_entry_size(const EntryRecord& entry);
void encode_entry(const EntryRecord& entry, char* out);
std::string encode_entry(const EntryRecord& entry);  // convenience for tests and the slow paths

// False unless `value` is a complete entry of this format: wrong magic or version, lengths that do
// not add up to the value's size, or a malformed tag block. Never reads outside `value`. Fills
// `out` in place (the hit path decodes straight into its EntryView: no intermediate copy).
bool decode_entry(std::string_view value, EntryRecord& out);
std::optional<EntryRecord> decode_entry(std::string_view value);  // the same, for the slow paths
// The LRU sequence number alone (touch checks it without decoding everything); nullopt if no entry.
std::optional<uint64_t> entry_seq(std::string_view value);
// Rewrites the sequence number of an encoded entry in place (the writer's touch on its own copy).
void set_entry_seq(char* value, uint64_t seq);

struct VaryMarker {
    std::string_view primary;  // full primary key
    std::string_view names;    // normalised Vary value: lower-case names, sorted, ", "-separated
};
std::string encode_vary_marker(std::string_view primary, std::string_view names);
std::optional<VaryMarker> decode_vary_marker(std::string_view value);

// The head block format: one "Name: value\r\n" per field, in order.
void append_head_line(std::string& block, std::string_view name, std::string_view value);
// Splits a head block back into field views (into `block`), `out` cleared first. Values are
// OWS-trimmed; a line without ':' or with an empty name is skipped; a last line without CRLF counts.
void parse_head_block(std::string_view block, std::vector<HeaderField>& out);

}  // namespace portico::cache
