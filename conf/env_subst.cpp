// ${VAR} / ${VAR:-default} expansion: a single left-to-right scan, no recursion.
#include "conf/env_subst.hpp"

#include <cstdlib>

#include <fmt/format.h>

namespace portico::conf {
namespace {

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

SubstResult failure(size_t offset, std::string message) {
    return SubstResult{std::nullopt, std::move(message), offset};
}

}  // namespace

EnvLookup process_env() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
    };
}

SubstResult substitute_env(std::string_view text, const EnvLookup& lookup) {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        if (text.compare(i, 3, "$${") == 0) {  // escape: a literal "${"
            out += "${";
            i += 3;
            continue;
        }
        if (text.compare(i, 2, "${") != 0) {
            out += text[i++];
            continue;
        }
        const size_t start = i;
        size_t close = text.find('}', i + 2);
        if (close == std::string_view::npos)
            return failure(start, "unterminated '${' (write '$${' for a literal '${')");
        std::string_view inner = text.substr(i + 2, close - i - 2);
        std::string_view name = inner;
        std::optional<std::string_view> fallback;
        if (size_t sep = inner.find(":-"); sep != std::string_view::npos) {
            name = inner.substr(0, sep);
            fallback = inner.substr(sep + 2);
            if (fallback->find("${") != std::string_view::npos)
                return failure(start, fmt::format("nested '${{' in the default of '${{{}}}' is not "
                                                  "supported", inner));
        }
        bool valid = !name.empty() && name_start(name.front());
        for (char c : name) valid = valid && name_char(c);
        if (!valid)
            return failure(start, fmt::format("'${{{}}}' is not a variable reference: names are "
                                              "letters, digits and '_', optionally followed by "
                                              "':-default'",
                                              inner));
        std::optional<std::string> value = lookup(name);
        if (fallback && (!value || value->empty())) {
            out += *fallback;
        } else if (value) {
            out += *value;
        } else {
            return failure(start, fmt::format("environment variable '{}' is not set (write "
                                              "'${{{}:-default}}' to give a default)",
                                              name, name));
        }
        i = close + 1;
    }
    return SubstResult{std::move(out), {}, 0};
}

}  // namespace portico::conf
