// Hiding secrets in values that are printed (--print-config, GET /config, logs).
#pragma once

#include <string>
#include <string_view>

namespace portico::conf {

// Replaces the password in a libpq connection string with "******", in both forms libpq takes:
// keyword/value ("host=/run dbname=app password='s e\'cret'") and URI
// ("postgresql://app:secret@host/db?password=secret"). Everything else is kept.
std::string redact_conninfo(std::string_view conninfo);

}  // namespace portico::conf
