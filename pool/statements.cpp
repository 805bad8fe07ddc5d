// The statement registry and each server's prepared set; see statements.hpp.
#include "pool/statements.hpp"

#include <fmt/format.h>

namespace portico::pool {

namespace {
std::string registry_key(uint64_t params_id, std::string_view parse_body) {
    std::string key;
    key.reserve(sizeof params_id + parse_body.size());
    key.append(reinterpret_cast<const char*>(&params_id), sizeof params_id);
    key.append(parse_body);
    return key;
}
}  // namespace

StatementRef StatementRegistry::find(uint64_t params_id, std::string_view parse_body) const {
    auto it = by_key_.find(registry_key(params_id, parse_body));
    return it == by_key_.end() ? nullptr : it->second;
}

StatementRef StatementRegistry::intern(uint64_t params_id, std::string_view parse_body) {
    std::string key = registry_key(params_id, parse_body);
    auto it = by_key_.find(key);
    if (it != by_key_.end()) return it->second;
    if (by_key_.size() >= keep_) forget_unreferenced();
    auto statement = std::make_shared<PreparedStatement>();
    statement->id = next_id_++;
    statement->server_name = fmt::format("PORTICO_{}", statement->id);
    statement->body = std::string(parse_body);
    statement->key = key;
    by_key_.emplace(std::move(key), statement);
    return statement;
}

void StatementRegistry::renew(PreparedStatement& statement) {
    statement.id = next_id_++;
    statement.server_name = fmt::format("PORTICO_{}", statement.id);
}

void StatementRegistry::forget_unreferenced() {
    // Only the registry holds them: no client can name them any more. Ids are never reused, so a
    // server that still has one prepared keeps it only until its LRU closes it.
    for (auto it = by_key_.begin(); it != by_key_.end();) {
        if (it->second.use_count() == 1) it = by_key_.erase(it);
        else ++it;
    }
}

bool ServerStatements::touch(uint64_t id) {
    auto it = where_.find(id);
    if (it == where_.end()) return false;
    lru_.splice(lru_.end(), lru_, it->second);
    return true;
}

std::optional<std::string> ServerStatements::add(uint64_t id, std::string_view server_name, size_t capacity) {
    if (touch(id)) return std::nullopt;
    lru_.push_back(Entry{id, std::string(server_name)});
    where_[id] = std::prev(lru_.end());
    if (capacity == 0 || where_.size() <= capacity) return std::nullopt;
    Entry oldest = std::move(lru_.front());
    where_.erase(oldest.id);
    lru_.pop_front();
    return std::move(oldest.server_name);
}

void ServerStatements::remove(uint64_t id) {
    auto it = where_.find(id);
    if (it == where_.end()) return;
    lru_.erase(it->second);
    where_.erase(it);
}

void ServerStatements::clear() {
    lru_.clear();
    where_.clear();
}

}  // namespace portico::pool
