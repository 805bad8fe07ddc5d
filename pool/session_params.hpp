// The startup parameters a client asks for (application_name, client_encoding, DateStyle, options
// "-c name=value"…) and how a server connection is brought to them when the client gets it: the
// pooler compares what the client wants with what the server has and sends one SET/RESET query
// only when they differ. Pure functions and values: no I/O.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pool/startup.hpp"

namespace portico::pool {

// A run-time parameter as the client asked for it. Names are kept lowercased: GUC names are
// case-insensitive ("datestyle" and "DateStyle" are one parameter).
struct Param {
    std::string name;
    std::string value;
    bool operator==(const Param&) const = default;
};
using Params = std::vector<Param>;

std::string lowercase(std::string_view text);

// Parameters a server may report with ParameterStatus (GUC_REPORT), lowercased: the names the
// pooler asks libpq for after connecting. For those a server did report the pooler always knows the
// current value; others (search_path before 18, statement_timeout, extra_float_digits…) are known
// only from what the pooler itself set.
std::span<const std::string_view> reported_param_names();
// "datestyle" → "DateStyle": the spelling clients expect in ParameterStatus; other names unchanged.
std::string canonical_param_name(std::string_view lowercase_name);

// A parameter name Postgres could accept: letters, digits, '_' and '.', not starting with a digit.
bool is_valid_param_name(std::string_view name);

// The client's wanted parameters from its StartupMessage: every parameter except user, database,
// replication, options and protocol options ("_pq_."), then the "-c name=value" / "--name=value"
// items of `options` (backslash escapes a space, as libpq's PGOPTIONS does). Later ones win.
// Errors name the offending item: an unknown option switch, an invalid name.
bool wanted_params(const StartupMessage& startup, Params& out, std::string& error);

// What a server connection is known to have. `initial` holds the reported values it started with
// (the values a client that asks for nothing must get back); `current` the reported values now;
// `applied` the unreported parameters the pooler SET on it.
struct ServerParams {
    Params initial;
    Params current;
    Params applied;

    const std::string* current_value(std::string_view lowercase_name) const;
    const std::string* initial_value(std::string_view lowercase_name) const;
    void set_current(std::string_view lowercase_name, std::string_view value);  // from ParameterStatus
};

// The query that brings `server` to `wanted`, "" when nothing differs: SET for a wanted value the
// server does not have (compared with the reported value, or with what was applied), SET back to
// the initial value for a reported parameter a previous client changed, RESET for an applied one
// this client does not want. Values are quoted as E'' literals, so any byte is safe.
std::string sync_query(const Params& wanted, const ServerParams& server);
// What sync_query sets on unreported parameters: the new `applied` list once the query succeeded.
Params applied_after_sync(const Params& wanted, const ServerParams& server);

// A string as an E'…' literal (backslash and quote escaped).
std::string quote_literal(std::string_view value);

}  // namespace portico::pool
