// "Did you mean …?" for misspelt configuration keys.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace portico::conf {

// Edit distance counting insertions, deletions, substitutions and swaps of neighbours as one
// each (optimal string alignment), case-insensitively: "keepalve" -> "keepalive" is 1.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a likely typo (distance at most a
// third of the longer word, and at least 1), else an empty string.
std::string closest_match(std::string_view word, std::initializer_list<std::string_view> candidates);

}  // namespace portico::conf
