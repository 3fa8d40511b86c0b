#include "result.h"

namespace sidecar {

const char *errorCodeName(ErrorCode code)
{
    switch (code) {
    case ErrorCode::InvalidArgument: return "invalid_argument";
    case ErrorCode::NotFound: return "not_found";
    case ErrorCode::Conflict: return "conflict";
    case ErrorCode::Forbidden: return "forbidden";
    case ErrorCode::Unavailable: return "unavailable";
    case ErrorCode::TooLarge: return "too_large";
    case ErrorCode::Internal: return "internal";
    }
    return "internal";
}

} // namespace sidecar
