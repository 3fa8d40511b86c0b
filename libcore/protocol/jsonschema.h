#pragma once

// A compiled JSON Schema (draft 7 subset shared with 2020-12, as MCP reads schemas), validated
// with valijson over the request's own json::Value tree. Thread: immutable after compile(),
// so one instance may validate on any thread.

#include <QByteArray>
#include <QString>

#include <memory>

#include "json.h"
#include "result.h"

namespace sidecar::json {

class JsonSchema
{
public:
    // Compiles the schema text; an invalid schema is a programming error reported as Internal.
    static Result<JsonSchema> compile(const QByteArray &schemaText);

    JsonSchema(JsonSchema &&) noexcept;
    JsonSchema &operator=(JsonSchema &&) noexcept;
    ~JsonSchema();

    // The schema as compact JSON text (for tools/list).
    const QByteArray &text() const { return m_text; }
    const Value &root() const;

    // Empty when `value` is valid, else a sentence naming where and why it is not.
    QString validate(const Value &value) const;

private:
    JsonSchema();
    struct Impl;
    std::unique_ptr<Impl> m_impl;
    QByteArray m_text;
};

} // namespace sidecar::json
