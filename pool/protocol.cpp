// SQLSTATEs for codec errors.
#include "pool/protocol.hpp"

namespace portico::pool {

std::string_view sqlstate_of(ProtocolErrc code) {
    switch (code) {
    case ProtocolErrc::invalid_length: return sqlstate::kProtocolViolation;
    case ProtocolErrc::message_too_large: return sqlstate::kProgramLimitExceeded;
    case ProtocolErrc::unsupported_protocol: return sqlstate::kFeatureNotSupported;
    case ProtocolErrc::malformed: return sqlstate::kProtocolViolation;
    case ProtocolErrc::missing_user: return sqlstate::kInvalidAuthorizationSpecification;
    }
    return sqlstate::kProtocolViolation;
}

}  // namespace portico::pool
