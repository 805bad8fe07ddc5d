// LMDB details shared by the read side (lmdb_store.cpp) and the single writer (writer.cpp): how an
// object key becomes an LMDB key, the meta records, and MDB_val conversions. Not for the proxy.
//
// Tables (named DBs of one environment):
//   objects  stored key → encoded entry, or a Vary marker under primary + '\0' (entry_codec.hpp)
//   tags     tag → stored key (MDB_DUPSORT), for purge by tag
//   lru      u64 sequence number, big-endian so memcmp order is numeric → stored key
//   meta     "format", "next_seq", "entries", "bytes", "boot_id", "clean"
// The brief's separate "vary" and "access" tables are folded in on purpose: the marker sits in the
// slot a Vary-less entry would use, so either answer costs one lookup; and an entry's sequence
// number lives in its own header, so a hit knows its LRU position without a second lookup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <lmdb.h>

namespace portico::cache::lmdb {

// Bumped when a table's layout changes; an environment of another format is moved aside at open.
inline constexpr uint32_t kStoreFormat = 1;

// LMDB keys (and MDB_DUPSORT data) are at most 511 bytes. A longer primary keeps its first bytes,
// so keys of one site still sort together, then '\x01' and a 128-bit hash in hex; likewise a long
// variant. The full key is in every value and checked on read, so a hash collision is a miss.
inline constexpr size_t kMaxStoredPrimary = 300;
inline constexpr size_t kMaxStoredVariant = 200;
inline constexpr size_t kMaxStoredKey = kMaxStoredPrimary + 1 + kMaxStoredVariant;

// A stored key on the stack, so the hit path does not allocate.
struct KeyBuffer {
    char data[kMaxStoredKey];
    size_t size = 0;
    std::string_view view() const { return {data, size}; }
};

// primary' + '\0' + variant' (variant empty: the slot of a Vary-less entry or of the Vary marker).
void make_stored_key(KeyBuffer& out, std::string_view primary, std::string_view variant);
// The same from a full object key (primary + '\0' + variant), as EntryView::object_key gives it.
void make_stored_key(KeyBuffer& out, std::string_view object_key);

inline MDB_val to_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view to_view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

// LRU keys: big-endian so that LMDB's default byte order is numeric order.
void put_be64(char* out, uint64_t v);
uint64_t get_be64(const char* in);

std::optional<uint64_t> get_meta_u64(MDB_txn* txn, MDB_dbi meta, std::string_view name);
int put_meta_u64(MDB_txn* txn, MDB_dbi meta, std::string_view name, uint64_t value);
std::optional<std::string> get_meta_string(MDB_txn* txn, MDB_dbi meta, std::string_view name);
int put_meta_string(MDB_txn* txn, MDB_dbi meta, std::string_view name, std::string_view value);

// Pages in use: every table's branch, leaf and overflow pages, the main and free-list tables'
// own pages, and the two meta pages (mdb_stat inside the given transaction).
uint64_t used_pages(MDB_txn* txn, const MDB_dbi* tables, size_t count);

// Entries with a smaller sequence number are outside the LRU's youngest quarter: three quarters of
// the way from the oldest row of `lru` to the next number to hand out.
uint64_t touch_below(MDB_txn* txn, MDB_dbi lru, uint64_t next_seq);

// The kernel's boot id ("" when unknown): a file not closed cleanly before a reboot may be torn.
std::string boot_id();

}  // namespace portico::cache::lmdb
