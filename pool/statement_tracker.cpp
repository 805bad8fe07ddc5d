// The rewriting of a client's stream for its named prepared statements; see statement_tracker.hpp.
#include "pool/statement_tracker.hpp"

#include "pool/backend.hpp"
#include "pool/builders.hpp"
#include "pool/frontend.hpp"
#include "pool/statement_guard.hpp"
#include "pool/wire.hpp"

namespace portico::pool {

namespace {
// A Bind streamed in parts names its portal and statement in its first bytes; a head this long
// without both names is malformed, and goes to the server as it is (which refuses it).
constexpr size_t kMaxBindHead = 64 * 1024;

// Postgres's text when a prepared statement's result columns changed under it (ALTER TABLE).
constexpr std::string_view kCachedPlanChanged = "cached plan must not change result type";

// `raw` (an ErrorResponse) with every `from` in its fields replaced by `to`.
std::string error_renamed(std::string_view body, std::string_view from, std::string_view to) {
    auto fields = parse_error_fields(body);
    std::string out;
    size_t at = wire::begin_message(out, backend::kErrorResponse);
    if (fields) {
        for (const auto& [code, value] : fields->fields) {
            out.push_back(code);
            std::string text(value);
            for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
                text.replace(pos, from.size(), to);
            }
            wire::put_cstring(out, text);
        }
    }
    out.push_back('\0');
    wire::finish_message(out, at);
    return out;
}

// The error Postgres raises for a statement whose columns changed, field for field: drivers tell it
// by its routine rather than its (localisable) text — asyncpg re-prepares and retries on it.
std::string stale_plan_error() {
    std::string out;
    size_t at = wire::begin_message(out, backend::kErrorResponse);
    for (auto [code, value] : {std::pair<char, std::string_view>{'S', "ERROR"}, {'V', "ERROR"}, {'C', "0A000"},
                               {'M', kCachedPlanChanged}, {'F', "plancache.c"}, {'R', "RevalidateCachedQuery"}}) {
        out.push_back(code);
        wire::put_cstring(out, value);
    }
    out.push_back('\0');
    wire::finish_message(out, at);
    return out;
}

// A statement name no server has: our Bind of it fails where the client's stale one would have.
constexpr std::string_view kNoSuchStatement = "PORTICO_STALE";

std::string parse_complete() {
    std::string s;
    append_parse_complete(s);
    return s;
}

std::string close_complete() {
    std::string s;
    append_close_complete(s);
    return s;
}
}  // namespace

std::vector<std::string> SessionDirt::reset_queries() const {
    std::vector<std::string> q;
    if (cursors) q.emplace_back("CLOSE ALL");
    if (sql_statements) q.emplace_back("DEALLOCATE ALL");
    if (advisory_locks) q.emplace_back("SELECT pg_advisory_unlock_all()");
    // RESET ALL leaves the role and the session authorization alone (Postgres marks them so): a
    // client's SET ROLE must not become the next client's identity.
    if (parameters) q.emplace_back("SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL");
    return q;
}

const StatementRef* StatementTracker::find(std::string_view name) const {
    auto it = statements_.find(name);
    return it == statements_.end() ? nullptr : &it->second.statement;
}

bool StatementTracker::parse_without_server(StatementRegistry& registry, uint64_t params_id, const Message& m,
                                            PoolCounters& counters) {
    auto p = parse_parse(m.body);
    if (!p || p->statement.empty() || statements_.count(p->statement) != 0) return false;
    StatementRef statement = registry.find(params_id, p->after_statement);
    if (!statement || !statement->validated) return false;
    statements_.emplace(std::string(p->statement), ClientStatement{std::move(statement), {}});
    counters.statements_reused++;
    return true;
}

void StatementTracker::link_lost() {
    expected_.clear();
    skipping_ = false;
    copy_in_ = false;
    discarding_parts_ = false;
    holding_ = false;
    held_.clear();
    checkpoints_.clear();
    held_syncs_.clear();
    deallocating_.clear();
    bind_head_.clear();
    collecting_bind_ = false;
}

// ---- client → server -------------------------------------------------------------------------

void StatementTracker::client_message(const Link& link, const Message& m, std::string& to_client) {
    // A streamed message's later parts follow its first part's fate (renamed, replaced or raw).
    if (m.part && !m.first) return handle_part(link, m, to_client);
    if (skipping_) {
        // The server ignores everything up to the Sync: so do we (no renames, no answers owed).
        out(link).append(m.raw);
        if (!m.part && m.type == frontend::kSync) {
            skipping_ = false;
            push({Kind::sync});
        }
        return;
    }
    if (m.part) return handle_part(link, m, to_client);
    handle_whole(link, m, to_client);
}

void StatementTracker::handle_whole(const Link& link, const Message& m, std::string& to_client) {
    switch (m.type) {
        case frontend::kParse:
            return parse(link, m, to_client);
        case frontend::kBind:
            return bind(link, m, to_client);
        case frontend::kDescribe:
            return describe(link, m);
        case frontend::kClose:
            return close(link, m, to_client);
        case frontend::kExecute:
            push({Kind::execute});
            break;
        case frontend::kSync:
            // In copy-in the server ignores a Sync: nothing will answer it.
            if (!copy_in_) push({Kind::sync});
            if (holding_) held_syncs_.push_back(held_.size());
            break;
        case frontend::kCopyDone:
        case frontend::kCopyFail:
            copy_in_ = false;
            break;
        case frontend::kQuery:
            return query(link, m);
        case frontend::kFunctionCall:
            push({Kind::query});
            break;
        default:  // Flush, CopyData, CopyDone, CopyFail: nothing answers them by themselves
            break;
    }
    out(link).append(m.raw);
}

void StatementTracker::handle_part(const Link& link, const Message& m, std::string& to_client) {
    if (m.first) {
        if (m.type == frontend::kBind && link.capacity > 0) {
            collecting_bind_ = true;
            bind_head_.assign(m.raw);
            return finish_bind_head(link, m.last, to_client);
        }
        if (m.type == frontend::kQuery || m.type == frontend::kFunctionCall) {
            push({Kind::query});
            // A text too long to hold is not looked at: assume it changed the session.
            link.dirt.parameters = true;
            link.dirt.advisory_locks = true;
        }
        if (m.type == frontend::kBind) push({Kind::bind});
        out(link).append(m.raw);
        return;
    }
    if (discarding_parts_) {
        discarding_parts_ = !m.last;
        return;
    }
    if (collecting_bind_) {
        bind_head_.append(m.raw);
        return finish_bind_head(link, m.last, to_client);
    }
    out(link).append(m.raw);
}

void StatementTracker::finish_bind_head(const Link& link, bool last, std::string& to_client) {
    std::string_view head(bind_head_);
    std::string_view body = head.size() > 5 ? head.substr(5) : std::string_view();
    size_t portal_end = body.find('\0');
    size_t statement_end = portal_end == std::string_view::npos ? portal_end : body.find('\0', portal_end + 1);
    if (statement_end == std::string_view::npos) {
        if (!last && head.size() < kMaxBindHead) return;  // wait for more of it
        push({Kind::bind});
        out(link).append(bind_head_);
    } else {
        std::string name(body.substr(portal_end + 1, statement_end - portal_end - 1));
        auto it = name.empty() ? statements_.end() : statements_.find(name);
        if (it == statements_.end()) {
            push({Kind::bind});
            out(link).append(bind_head_);
        } else if (!ready_to_bind(link, name, it->second, to_client)) {
            discarding_parts_ = !last;  // our failing Bind went instead; the rest of this one goes nowhere
        } else {
            StatementRef statement = it->second.statement;
            // The length word counts the whole message: it changes by the names' difference.
            uint32_t length = wire::load_u32(head.data() + 1);
            length = length - static_cast<uint32_t>(name.size()) + static_cast<uint32_t>(statement->server_name.size());
            std::string& o = out(link);
            o.push_back(frontend::kBind);
            wire::put_u32(o, length);
            o.append(body.substr(0, portal_end + 1));
            wire::put_cstring(o, statement->server_name);
            o.append(body.substr(statement_end + 1));
            push({Kind::bind, statement});
        }
    }
    bind_head_.clear();
    collecting_bind_ = false;
}

void StatementTracker::parse(const Link& link, const Message& m, std::string& to_client) {
    auto p = parse_parse(m.body);
    if (p) {
        SessionEffects e = session_effects(p->query);
        link.dirt.parameters |= e.parameters;
        link.dirt.advisory_locks |= e.advisory_locks;
    }
    if (!p || p->statement.empty() || link.capacity == 0) {
        // The unnamed statement lives only until the next unnamed Parse: no server switch can come
        // between its Parse and its use within one transaction. A DEALLOCATE it carries is ours.
        if (p && link.capacity > 0) {
            if (auto d = parse_deallocate(p->query); d && !d->all) {
                if (auto it = statements_.find(d->name); it != statements_.end()) {
                    StatementRef statement = it->second.statement;
                    ensure_prepared(link, statement, false);
                    append_parse(out(link), "", "DEALLOCATE \"" + statement->server_name + "\"", p->param_types);
                    Expected expected{Kind::parse};
                    expected.client_name = d->name;  // queued in deallocating_ once the server took it
                    expected.deallocate = true;
                    push(std::move(expected));
                    return;
                }
            }
        }
        push({Kind::parse});
        out(link).append(m.raw);
        return;
    }
    std::string name(p->statement);
    if (auto it = statements_.find(name); it != statements_.end()) {
        // Postgres refuses a second Parse of a name in use (42P05): let a server say so, about the
        // statement this name stands for, and put the client's name back in its words.
        StatementRef existing = it->second.statement;
        ensure_prepared(link, existing, false);
        append_parse_renamed(out(link), *p, existing->server_name);
        Expected expected{Kind::parse, existing};
        expected.client_name = name;
        expected.duplicate = true;
        push(std::move(expected));
        return;
    }
    StatementRef statement = link.registry.intern(link.params_id, p->after_statement);
    SessionEffects effects = session_effects(p->query);
    statement->sets_parameters = effects.parameters;
    statement->takes_advisory_locks = effects.advisory_locks;
    statements_.emplace(name, ClientStatement{statement, {}});
    if (link.server.touch(statement->id)) {
        // Already prepared on this server, by this client or another: answer it ourselves.
        link.counters.statements_reused++;
        Expected expected{Kind::synthetic, statement};
        expected.client_name = name;  // undone if an error ahead of it skips it
        expected.synthetic = parse_complete();
        if (expected_.empty() && !holding_) answer(std::move(expected.synthetic), to_client);
        else push(std::move(expected));
        return;
    }
    will_prepare(link, statement);
    link.counters.statements_prepared++;
    append_parse_renamed(out(link), *p, statement->server_name);
    Expected expected{Kind::parse, statement};
    expected.client_name = name;
    push(std::move(expected));
}

bool StatementTracker::ready_to_bind(const Link& link, const std::string& name, ClientStatement& cs, std::string& to_client) {
    const StatementRef& statement = cs.statement;
    if (!cs.described.empty() && !statement->shape.empty() && cs.described != statement->shape) {
        // The columns changed since this client described it (DDL): Postgres would refuse the Bind,
        // and the client (asyncpg) prepares it again. Answered here, in order.
        (void)to_client;
        fail_bind(link, false);
        return false;
    }
    apply_effects(link, *statement);
    ensure_prepared(link, statement, false, cs.described.empty() ? std::string() : name);
    return true;
}

void StatementTracker::apply_effects(const Link& link, const PreparedStatement& statement) {
    link.dirt.parameters |= statement.sets_parameters;
    link.dirt.advisory_locks |= statement.takes_advisory_locks;
}

void StatementTracker::fail_bind(const Link& link, bool at_front) {
    link.counters.statements_stale++;
    Expected failing{Kind::bind};
    failing.replacement = stale_plan_error();
    std::string bind;
    append_bind(bind, "", kNoSuchStatement);
    if (at_front) {
        link.server_out.append(bind);
        expected_.push_front(std::move(failing));
    } else {
        out(link).append(bind);
        push(std::move(failing));
    }
}

void StatementTracker::bind(const Link& link, const Message& m, std::string& to_client) {
    auto b = parse_bind(m.body);
    if (b && !b->statement.empty() && link.capacity > 0) {
        if (auto it = statements_.find(b->statement); it != statements_.end()) {
            if (!ready_to_bind(link, it->first, it->second, to_client)) return;
            StatementRef statement = it->second.statement;
            append_bind_renamed(out(link), *b, statement->server_name);
            push({Kind::bind, statement});
            return;
        }
    }
    // Unnamed, unknown (the server answers 26000 with the client's name) or malformed.
    push({Kind::bind});
    out(link).append(m.raw);
}

void StatementTracker::describe(const Link& link, const Message& m) {
    auto d = parse_describe(m.body);
    if (d && d->kind == TargetKind::portal) {
        push({Kind::describe_portal});
        out(link).append(m.raw);
        return;
    }
    if (d && !d->name.empty() && link.capacity > 0) {
        if (auto it = statements_.find(d->name); it != statements_.end()) {
            StatementRef statement = it->second.statement;
            ensure_prepared(link, statement, false);
            append_describe(out(link), TargetKind::statement, statement->server_name);
            Expected expected{Kind::describe_statement, statement};
            expected.client_name = it->first;  // the answer is what this client now believes
            push(std::move(expected));
            return;
        }
    }
    push({Kind::describe_statement});
    out(link).append(m.raw);
}

void StatementTracker::close(const Link& link, const Message& m, std::string& to_client) {
    auto c = parse_close(m.body);
    if (!c || c->kind == TargetKind::portal || c->name.empty() || link.capacity == 0) {
        push({Kind::close});
        out(link).append(m.raw);
        return;
    }
    // The client's name goes; the server keeps the statement for other clients until its LRU
    // closes it. Closing a name that does not exist is no error in Postgres either.
    Expected expected{Kind::synthetic};
    if (auto it = statements_.find(c->name); it != statements_.end()) {
        expected.statement = it->second.statement;
        expected.described = it->second.described;
        expected.client_name = it->first;
        expected.closing = true;
        statements_.erase(it);
    }
    link.counters.statements_closed_locally++;
    expected.synthetic = close_complete();
    if (expected_.empty() && !holding_) answer(std::move(expected.synthetic), to_client);
    else push(std::move(expected));
}

void StatementTracker::query(const Link& link, const Message& m) {
    auto q = parse_query(m.body);
    if (q) {
        SessionEffects e = session_effects(q->sql);
        link.dirt.parameters |= e.parameters;
        link.dirt.advisory_locks |= e.advisory_locks;
    }
    if (q && link.capacity > 0) {
        if (auto d = parse_deallocate(q->sql); d && !d->all) {
            if (auto it = statements_.find(d->name); it != statements_.end()) {
                StatementRef statement = it->second.statement;
                ensure_prepared(link, statement, true);
                append_query(out(link), "DEALLOCATE \"" + statement->server_name + "\"");
                Expected expected{Kind::query, statement};
                expected.client_name = d->name;
                expected.deallocate = true;
                push(std::move(expected));
                return;
            }
        }
    }
    push({Kind::query});
    out(link).append(m.raw);
}

void StatementTracker::ensure_prepared(const Link& link, const StatementRef& statement, bool before_query,
                                       const std::string& check_for) {
    if (link.server.touch(statement->id)) return;
    // Prepared by this client on another server (or evicted here): prepare it here first.
    will_prepare(link, statement);
    link.counters.statements_reprepared++;
    append_parse_renamed(out(link), Parse{{}, {}, {}, 0, statement->body}, statement->server_name);
    Expected parsed{Kind::own_parse, statement};
    parsed.quiet = before_query;
    push(std::move(parsed));
    if (before_query) {
        // A simple Query must run whatever became of our Parse: a Sync ends its error skipping.
        append_sync(out(link));
        push({Kind::own_sync});
        return;
    }
    if (check_for.empty()) return;
    // The client knows its columns: check them here before its Bind runs. Until our Describe is
    // answered, what the client sends waits (Flush makes the server answer at once).
    append_describe(out(link), TargetKind::statement, statement->server_name);
    append_flush(out(link));
    Expected described{Kind::own_describe, statement};
    described.client_name = check_for;
    push(std::move(described));
    if (holding_) checkpoints_.push_back(held_.size());
    holding_ = true;
}

void StatementTracker::will_prepare(const Link& link, const StatementRef& statement) {
    if (auto evicted = link.server.add(statement->id, statement->server_name, link.capacity)) {
        link.counters.statements_evicted++;
        append_close(out(link), TargetKind::statement, *evicted);
        push({Kind::own_close});
    }
}

// ---- server → client -------------------------------------------------------------------------

void StatementTracker::answer(std::string bytes, std::string& to_client) { to_client.append(bytes); }

void StatementTracker::write_due(std::string& to_client) {
    while (!expected_.empty() && expected_.front().kind == Kind::synthetic) {
        to_client.append(expected_.front().synthetic);
        expected_.pop_front();
    }
}

void StatementTracker::pop_front(std::string& to_client) {
    if (!expected_.empty()) expected_.pop_front();
    write_due(to_client);
}

bool StatementTracker::server_message(const Link& link, const Message& m, std::string& to_client) {
    write_due(to_client);
    if (m.type == backend::kCommandComplete && !m.part) command_complete(link, m.body);
    if (m.part || expected_.empty()) {
        to_client.append(m.raw);
        return true;
    }
    Expected& head = expected_.front();
    switch (m.type) {
        case backend::kNoticeResponse:
        case backend::kParameterStatus:
        case backend::kNotificationResponse:
            break;  // not an answer to anything in particular
        case backend::kErrorResponse:
            if (head.kind == Kind::query || head.kind == Kind::sync || head.kind == Kind::own_sync) break;
            server_error(link, m.body, m.raw, to_client);
            return true;
        case backend::kReadyForQuery: {
            // It ends the cycle at the front (anything before it would be a confusion of ours:
            // resynchronise on the cycle's end rather than wait for answers that will not come).
            bool own = false;
            while (!expected_.empty()) {
                Kind k = expected_.front().kind;
                expected_.pop_front();
                if (k == Kind::sync || k == Kind::query || k == Kind::own_sync) {
                    own = k == Kind::own_sync;
                    break;
                }
            }
            if (!own) to_client.append(m.raw);
            write_due(to_client);
            return !own;
        }
        case backend::kParseComplete:
        case backend::kCloseComplete: {
            bool own = head.kind == Kind::own_parse || head.kind == Kind::own_close;
            if (head.statement && (head.kind == Kind::parse || head.kind == Kind::own_parse) && !head.duplicate) {
                head.statement->validated = true;
            }
            if (head.kind == Kind::parse && head.deallocate) deallocating_.push_back(head.client_name);
            if (!own) to_client.append(m.raw);
            pop_front(to_client);
            return !own;
        }
        case backend::kParameterDescription:
            if (head.kind == Kind::own_describe) return false;
            break;
        case backend::kRowDescription:
        case backend::kNoData:
            if (head.kind == Kind::own_describe) {
                Expected check = std::move(head);
                expected_.pop_front();
                observe_shape(link, *check.statement, m.raw);
                auto it = statements_.find(check.client_name);
                bool same = it == statements_.end() || it->second.statement != check.statement ||
                            it->second.described == m.raw;
                if (same) {
                    release_held(link);
                    write_due(to_client);
                } else {
                    fail_held(link);
                }
                return false;
            }
            if (head.kind == Kind::describe_statement) {
                if (head.statement) {
                    observe_shape(link, *head.statement, m.raw);
                    auto it = statements_.find(head.client_name);
                    if (it != statements_.end() && it->second.statement == head.statement) it->second.described = m.raw;
                }
                to_client.append(m.raw);
                pop_front(to_client);
                return true;
            }
            if (head.kind == Kind::describe_portal) {
                to_client.append(m.raw);
                pop_front(to_client);
                return true;
            }
            break;  // a RowDescription within a simple Query's answer
        case backend::kBindComplete:
            to_client.append(m.raw);
            pop_front(to_client);
            return true;
        case backend::kCopyInResponse:
            if (head.kind == Kind::execute) {
                // COPY FROM STDIN through Execute: the Syncs the client sent after it reach the server
                // in copy-in mode and are ignored; only the one after CopyDone/CopyFail is answered.
                auto next = std::next(expected_.begin());
                while (next != expected_.end() && next->kind == Kind::sync) next = expected_.erase(next);
                copy_in_ = true;
            }
            break;
        case backend::kCommandComplete:
        case backend::kEmptyQueryResponse:
        case backend::kPortalSuspended:
            to_client.append(m.raw);
            if (head.kind == Kind::execute) pop_front(to_client);
            return true;
        default:  // DataRow, COPY, FunctionCallResponse: within the head's answer
            break;
    }
    to_client.append(m.raw);
    return true;
}

void StatementTracker::observe_shape(const Link& link, PreparedStatement& statement, std::string_view raw) {
    if (statement.shape == raw) return;
    bool changed = !statement.shape.empty();
    statement.shape = std::string(raw);
    if (!changed) return;
    // Servers that prepared it before the change still give the old columns (or the stale-plan
    // error): a new name keeps "same name, same columns" true on every server.
    link.registry.renew(statement);
    link.counters.statements_invalidated++;
}

void StatementTracker::send_held(const Link& link, size_t upto) {
    link.server_out.append(held_, 0, upto);
    held_.erase(0, upto);
    // Checks whose Describe went out with it now run; one that starts exactly here still holds.
    while (!checkpoints_.empty() && checkpoints_.front() < upto) checkpoints_.pop_front();
    for (size_t& c : checkpoints_) c -= upto;
    while (!held_syncs_.empty() && held_syncs_.front() < upto) held_syncs_.pop_front();
    for (size_t& c : held_syncs_) c -= upto;
}

void StatementTracker::release_held(const Link& link) {
    if (!holding_) return;
    if (checkpoints_.empty()) {
        // Past the last check: what comes next goes straight to the server.
        send_held(link, held_.size());
        holding_ = false;
        return;
    }
    // Up to the next check's Describe, whose answer the rest waits for.
    size_t upto = checkpoints_.front();
    checkpoints_.pop_front();
    send_held(link, upto);
}

void StatementTracker::fail_held(const Link& link) {
    // Postgres would refuse the client's Bind: a Bind that fails goes first, so the server refuses
    // it, aborts a transaction block and skips the client's held messages up to its Sync — all as
    // for an error of its own.
    fail_bind(link, true);
    release_held(link);
}

void StatementTracker::command_complete(const Link& link, std::string_view body) {
    auto c = parse_command_complete(body);
    if (!c) return;
    std::string_view tag = c->tag;
    if (tag == "SET") {
        link.dirt.parameters = true;
    } else if (tag == "RESET") {
        link.dirt.parameters_reset = true;
    } else if (tag == "PREPARE") {
        link.dirt.sql_statements = true;
    } else if (tag == "DECLARE CURSOR") {
        link.dirt.cursors = true;
    } else if (tag == "DISCARD ALL" || tag == "DEALLOCATE ALL") {
        // Every statement on this server is gone, the pooler's included; the client's own are
        // gone for it too. DISCARD ALL (never inside a transaction block, so never undone) also
        // cleared everything else a client can leave behind.
        link.server.clear();
        statements_.clear();
        link.counters.statements_deallocated++;
        if (tag == "DISCARD ALL") {
            link.dirt = SessionDirt{};
            link.dirt.parameters_reset = true;
        }
    } else if (tag == "DEALLOCATE" && !expected_.empty()) {
        Expected& head = expected_.front();
        std::string name;
        if (head.deallocate) {
            name = head.client_name;
        } else if (head.kind == Kind::execute && !deallocating_.empty()) {
            name = std::move(deallocating_.front());
            deallocating_.pop_front();
        }
        auto it = name.empty() ? statements_.end() : statements_.find(name);
        if (it != statements_.end()) {
            link.server.remove(it->second.statement->id);
            statements_.erase(it);
            link.counters.statements_deallocated++;
        }
    }
}

void StatementTracker::server_error(const Link& link, std::string_view body, std::string_view raw, std::string& to_client) {
    Expected head = std::move(expected_.front());
    expected_.pop_front();
    auto fields = parse_error_fields(body);
    if (head.statement && fields && fields->message() == kCachedPlanChanged) {
        // DDL changed the statement's result columns: this server's copy is useless, and every
        // other server's would fail the same way. A new name makes each prepare it afresh.
        link.server.remove(head.statement->id);
        link.registry.renew(*head.statement);
        link.counters.statements_invalidated++;
    }
    if (head.kind == Kind::own_parse && head.quiet) {
        // Our Parse before a simple Query failed (an aborted transaction): the Query itself will
        // say why; our Sync follows.
        undo(link, head);
        return write_due(to_client);
    }
    if (!head.replacement.empty()) {
        to_client.append(head.replacement);
    } else if (head.kind == Kind::parse && head.duplicate) {
        to_client.append(error_renamed(body, head.statement->server_name, head.client_name));
    } else {
        to_client.append(raw);
    }
    // The server now skips everything up to the next Sync: what we expected from it, it will not
    // send, and what those messages did to the client's names is undone — last first, so a Close
    // then a Parse of one name gives the closed statement back. A DEALLOCATE the server took but
    // will not execute is forgotten.
    std::vector<Expected> skipped;
    skipped.push_back(std::move(head));
    while (!expected_.empty() && expected_.front().kind != Kind::sync && expected_.front().kind != Kind::own_sync) {
        skipped.push_back(std::move(expected_.front()));
        expected_.pop_front();
    }
    bool check_skipped = false;
    for (auto it = skipped.rbegin(); it != skipped.rend(); ++it) {
        check_skipped = check_skipped || it->kind == Kind::own_describe;
        undo(link, *it);
    }
    deallocating_.clear();
    if (holding_ && check_skipped) {
        // The Describe we were waiting for is skipped too: the held messages up to the client's
        // Sync go (the server skips them and answers the Sync); a later check still holds the rest.
        if (held_syncs_.empty()) {
            send_held(link, held_.size());
            checkpoints_.clear();
            holding_ = false;
        } else {
            send_held(link, held_syncs_.front() + 5);  // a Sync is 5 bytes
            release_held(link);
        }
    }
    if (expected_.empty() && !holding_) skipping_ = true;
}

void StatementTracker::undo(const Link& link, const Expected& e) {
    if (e.kind == Kind::own_parse && e.statement) link.server.remove(e.statement->id);
    if (e.closing) {
        // The server skipped the Close: the client still has the statement (unless a later Parse,
        // skipped too, already gave the name back).
        statements_.try_emplace(e.client_name, ClientStatement{e.statement, e.described});
        return;
    }
    bool client_parse = (e.kind == Kind::parse || e.kind == Kind::synthetic) && !e.client_name.empty();
    if (!client_parse || !e.statement || e.duplicate) return;
    // The server has the statement only if someone else's Parse put it there.
    if (e.kind == Kind::parse) link.server.remove(e.statement->id);
    auto it = statements_.find(e.client_name);
    if (it != statements_.end() && it->second.statement == e.statement) statements_.erase(it);
}

}  // namespace portico::pool
