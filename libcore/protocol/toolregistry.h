#pragma once

// The tool registry: one definition per tool (name, description written for a model, input
// and output schema, annotations, required scope, handler), compiled once at start-up.
// tools/list is rendered from it, tools/call dispatches through it. Thread: filled before the
// server starts, read-only afterwards.

#include <QByteArray>
#include <QString>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "json.h"
#include "jsonschema.h"
#include "result.h"

namespace sidecar::protocol {

// Scopes nest: Admin ⊇ Write ⊇ Read (TOOLS.md, "Auth scopes").
enum class Scope { Read = 1, Write = 2, Admin = 3 };

struct ToolAnnotations
{
    bool readOnly = false;
    bool destructive = false;
    bool idempotent = false;
    bool openWorld = false;
};

// What a handler knows about its caller.
struct CallContext
{
    QString principal; // the token's name; empty without tokens
    Scope scope = Scope::Admin;
};

// A tool's answer: the structuredContent object as compact JSON, or an Error that becomes an
// isError result. Called exactly once, on the session's thread.
using ToolReply = std::function<void(Result<QByteArray>)>;
// A handler reads what it needs from `args` before returning (the tree dies with the request)
// and answers through `reply`, now or later.
using ToolHandler = std::function<void(const CallContext &ctx, const json::Value &args, ToolReply reply)>;

struct ToolDefinition
{
    QString name;
    QString title;
    QString description;
    QByteArray inputSchema;  // JSON Schema text (draft 7 ∩ 2020-12)
    QByteArray outputSchema; // JSON Schema text
    ToolAnnotations annotations;
    Scope scope = Scope::Read;
    ToolHandler handler;
};

class ToolRegistry
{
public:
    struct Tool
    {
        ToolDefinition definition;
        json::JsonSchema input;
        json::JsonSchema output;
        std::set<std::string> numericProperties; // top-level: numeric strings coerced
        std::set<std::string> requiredProperties;
    };

    // Compiles the schemas; an invalid schema or a duplicate name is an Internal error.
    Result<void> add(ToolDefinition definition);

    const Tool *find(std::string_view name) const;
    const std::vector<std::unique_ptr<Tool>> &tools() const { return m_tools; }

    // The `tools` array of tools/list, rendered once.
    const QByteArray &listJson() const;

    // Normalises arguments the way the original package accepted them, then validates:
    // an explicit null for an optional property means "not given" (removed), and an integer
    // sent as a numeric string ("5") becomes the number. Returns the validation message.
    static QString prepareArguments(const Tool &tool, json::Value &args);

private:
    std::vector<std::unique_ptr<Tool>> m_tools;
    std::map<std::string, const Tool *, std::less<>> m_byName;
    mutable QByteArray m_listJson;
};

} // namespace sidecar::protocol
