// Startup parameters and the SET/RESET that carries them to a server; see session_params.hpp.
#include "pool/session_params.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <span>

namespace portico::pool {

namespace {

// GUC_REPORT parameters of PostgreSQL 14–18 (guc_tables.c), spelt as ParameterStatus spells them.
constexpr std::array<std::string_view, 15> kReported = {
    "application_name", "client_encoding", "DateStyle", "default_transaction_read_only", "in_hot_standby",
    "integer_datetimes", "IntervalStyle", "is_superuser", "scram_iterations", "search_path",
    "server_encoding", "server_version", "session_authorization", "standard_conforming_strings", "TimeZone",
};

// Startup packet keys that are not run-time parameters.
bool is_connection_key(std::string_view name) {
    return name == "user" || name == "database" || name == "replication" || name == "options" ||
           name.substr(0, 5) == "_pq_.";
}

void put(Params& params, std::string name, std::string value) {
    for (Param& p : params) {
        if (p.name == name) {
            p.value = std::move(value);
            return;
        }
    }
    params.push_back({std::move(name), std::move(value)});
}

// Whether a reported value already is what a client asks for. application_name is kept as given;
// the others come back canonical ("ISO, MDY", "UTC"), so case is ignored; encoding names are
// matched as Postgres matches them (clean_encoding_name: case and every non-alphanumeric character
// ignored), because asyncpg asks for client_encoding 'utf-8' — quotes included — and the server
// reports UTF8. Without this every asyncpg client would cost a SET on every link.
bool same_reported_value(std::string_view name, std::string_view now, std::string_view wanted) {
    if (name == "application_name") return now == wanted;
    auto fold = [&](std::string_view value) {
        std::string out;
        for (char c : value) {
            bool keep = name != "client_encoding" || std::isalnum(static_cast<unsigned char>(c));
            if (keep) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        return out;
    };
    return fold(now) == fold(wanted);
}

const std::string* find(const Params& params, std::string_view name) {
    for (const Param& p : params)
        if (p.name == name) return &p.value;
    return nullptr;
}

// Splits PGOPTIONS-style text at unescaped whitespace; "\ " is a space, "\\" a backslash.
std::vector<std::string> split_options(std::string_view text) {
    std::vector<std::string> items;
    std::string item;
    bool in_item = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\\' && i + 1 < text.size()) {
            item.push_back(text[++i]);
            in_item = true;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (in_item) items.push_back(std::move(item));
            item.clear();
            in_item = false;
        } else {
            item.push_back(c);
            in_item = true;
        }
    }
    if (in_item) items.push_back(std::move(item));
    return items;
}

bool add_assignment(std::string_view text, Params& out, std::string& error) {
    size_t eq = text.find('=');
    if (eq == std::string_view::npos) {
        error = "invalid option \"" + std::string(text) + "\" in \"options\": expected name=value";
        return false;
    }
    std::string name = lowercase(text.substr(0, eq));
    // Postgres treats '-' in a --name=value switch as '_' (ParseLongOption).
    std::replace(name.begin(), name.end(), '-', '_');
    if (!is_valid_param_name(name)) {
        error = "invalid parameter name \"" + name + "\" in \"options\"";
        return false;
    }
    put(out, std::move(name), std::string(text.substr(eq + 1)));
    return true;
}

}  // namespace

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

std::span<const std::string_view> reported_param_names() { return kReported; }

std::string canonical_param_name(std::string_view lowercase_name) {
    for (std::string_view name : kReported)
        if (lowercase(name) == lowercase_name) return std::string(name);
    return std::string(lowercase_name);
}

bool is_valid_param_name(std::string_view name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    });
}

bool wanted_params(const StartupMessage& startup, Params& out, std::string& error) {
    out.clear();
    for (const StartupParam& p : startup.params) {
        std::string name = lowercase(p.name);
        if (is_connection_key(name)) continue;
        if (!is_valid_param_name(name)) {
            error = "invalid parameter name \"" + std::string(p.name) + "\"";
            return false;
        }
        put(out, std::move(name), std::string(p.value));
    }
    std::vector<std::string> items = split_options(startup.options);
    for (size_t i = 0; i < items.size(); ++i) {
        std::string_view item = items[i];
        if (item == "-c") {
            if (i + 1 == items.size()) {
                error = "invalid \"options\": -c needs name=value";
                return false;
            }
            if (!add_assignment(items[++i], out, error)) return false;
        } else if (item.substr(0, 2) == "-c") {
            if (!add_assignment(item.substr(2), out, error)) return false;
        } else if (item.substr(0, 2) == "--") {
            if (!add_assignment(item.substr(2), out, error)) return false;
        } else {
            error = "unsupported item \"" + items[i] + "\" in \"options\": only -c name=value is passed to the server";
            return false;
        }
    }
    return true;
}

const std::string* ServerParams::current_value(std::string_view name) const { return find(current, name); }
const std::string* ServerParams::initial_value(std::string_view name) const { return find(initial, name); }
void ServerParams::set_current(std::string_view name, std::string_view value) {
    put(current, std::string(name), std::string(value));
}

std::string quote_literal(std::string_view value) {
    std::string out = "E'";
    for (char c : value) {
        if (c == '\\' || c == '\'') out.push_back(c);
        out.push_back(c);
    }
    out.push_back('\'');
    return out;
}

std::string sync_query(const Params& wanted, const ServerParams& server) {
    std::string sql;
    auto set = [&](const std::string& name, std::string_view value) {
        sql += "SET " + name + " TO " + quote_literal(value) + ";";
    };
    for (const Param& w : wanted) {
        // A parameter this server reports (search_path only from Postgres 18 on) is compared with its
        // reported value; any other with what the pooler applied.
        if (const std::string* now = server.current_value(w.name)) {
            // What differs otherwise is learnt from the ParameterStatus the SET produces.
            if (!same_reported_value(w.name, *now, w.value)) set(w.name, w.value);
        } else {
            const std::string* had = find(server.applied, w.name);
            if (had == nullptr || *had != w.value) set(w.name, w.value);
        }
    }
    // Reported parameters a previous client moved and this one does not ask for: back to the start.
    for (const Param& c : server.current) {
        if (find(wanted, c.name) != nullptr) continue;
        const std::string* start = server.initial_value(c.name);
        if (start != nullptr && *start != c.value && c.name != "is_superuser" && c.name != "in_hot_standby" &&
            c.name != "session_authorization") {
            set(c.name, *start);
        }
    }
    for (const Param& a : server.applied)
        if (find(wanted, a.name) == nullptr) sql += "RESET " + a.name + ";";
    return sql;
}

Params applied_after_sync(const Params& wanted, const ServerParams& server) {
    Params out;
    for (const Param& w : wanted)
        if (server.current_value(w.name) == nullptr) out.push_back(w);
    return out;
}

}  // namespace portico::pool
