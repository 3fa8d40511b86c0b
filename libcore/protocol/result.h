#pragma once

// Recoverable failures are values: every fallible call in libcore returns Result<T>.
// The error kinds are the contract's tool error codes (TOOLS.md, "Conventions"); each
// boundary (JSON-RPC, HTTP, tool result) translates them in exactly one place.

#include <QString>

#include <tl/expected.hpp>

namespace sidecar {

enum class ErrorCode {
    InvalidArgument,
    NotFound,
    Conflict,
    Forbidden,
    Unavailable, // backend down or timed out; for a write the outcome is unknown
    TooLarge,
    Internal,
};

// The contract's wire name of a code ("invalid_argument", ...).
const char *errorCodeName(ErrorCode code);

struct Error
{
    ErrorCode code = ErrorCode::Internal;
    QString message;
};

template<class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(ErrorCode code, QString message)
{
    return tl::unexpected<Error>(Error{code, std::move(message)});
}

} // namespace sidecar
