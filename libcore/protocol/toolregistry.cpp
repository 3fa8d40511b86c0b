#include "toolregistry.h"

#include <charconv>

namespace sidecar::protocol {

namespace {

bool declaresNumber(const json::Value &schema)
{
    const json::Value *type = schema.find("type");
    auto isNumeric = [](const json::Value &t) {
        return t.isString() && (t.text() == "integer" || t.text() == "number");
    };
    if (type) {
        if (isNumeric(*type))
            return true;
        if (type->isArray()) {
            for (const json::Value &t : type->items()) {
                if (isNumeric(t))
                    return true;
            }
        }
    }
    for (const char *combinator : {"anyOf", "oneOf"}) {
        if (const json::Value *alts = schema.find(combinator); alts && alts->isArray()) {
            for (const json::Value &alt : alts->items()) {
                if (declaresNumber(alt))
                    return true;
            }
        }
    }
    return false;
}

// "5", "-12", "2.5" as JSON numbers; anything else stays a string.
bool isNumericText(const std::string &s)
{
    if (s.empty() || s.size() > 64)
        return false;
    QByteArray probe = QByteArray::fromStdString(s);
    return json::parse(probe).has_value() && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'));
}

} // namespace

Result<void> ToolRegistry::add(ToolDefinition definition)
{
    const std::string name = definition.name.toStdString();
    if (m_byName.count(name))
        return fail(ErrorCode::Internal, QStringLiteral("tool %1 defined twice").arg(definition.name));
    auto input = json::JsonSchema::compile(definition.inputSchema);
    if (!input)
        return fail(ErrorCode::Internal, definition.name + QStringLiteral(" input schema: ") + input.error().message);
    auto output = json::JsonSchema::compile(definition.outputSchema);
    if (!output)
        return fail(ErrorCode::Internal, definition.name + QStringLiteral(" output schema: ") + output.error().message);

    auto tool = std::make_unique<Tool>(Tool{std::move(definition), std::move(*input), std::move(*output), {}, {}});
    if (const json::Value *props = tool->input.root().find("properties")) {
        for (const json::Member &m : props->members()) {
            if (declaresNumber(m.value))
                tool->numericProperties.insert(m.key);
        }
    }
    if (const json::Value *req = tool->input.root().find("required")) {
        for (const json::Value &r : req->items())
            tool->requiredProperties.insert(r.text());
    }
    m_byName.emplace(name, tool.get());
    m_tools.push_back(std::move(tool));
    m_listJson.clear();
    return {};
}

const ToolRegistry::Tool *ToolRegistry::find(std::string_view name) const
{
    const auto it = m_byName.find(name);
    return it == m_byName.end() ? nullptr : it->second;
}

const QByteArray &ToolRegistry::listJson() const
{
    if (!m_listJson.isEmpty())
        return m_listJson;
    json::Writer w(64 * 1024);
    w.beginArray();
    for (const auto &tool : m_tools) {
        const ToolDefinition &d = tool->definition;
        w.beginObject();
        w.field("name", d.name);
        if (!d.title.isEmpty())
            w.field("title", d.title);
        w.field("description", d.description);
        w.fieldRaw("inputSchema", tool->input.text());
        w.fieldRaw("outputSchema", tool->output.text());
        w.key("annotations").beginObject();
        if (!d.title.isEmpty())
            w.field("title", d.title);
        w.field("readOnlyHint", d.annotations.readOnly)
            .field("destructiveHint", d.annotations.destructive)
            .field("idempotentHint", d.annotations.idempotent)
            .field("openWorldHint", d.annotations.openWorld);
        w.endObject();
        w.endObject();
    }
    w.endArray();
    m_listJson = w.take();
    return m_listJson;
}

QString ToolRegistry::prepareArguments(const Tool &tool, json::Value &args)
{
    if (args.isObject()) {
        auto &members = args.members();
        for (auto it = members.begin(); it != members.end();) {
            if (it->value.isNull() && !tool.requiredProperties.count(it->key)) {
                it = members.erase(it);
                continue;
            }
            if (it->value.isString() && tool.numericProperties.count(it->key) && isNumericText(it->value.text()))
                it->value.assign(json::Value::makeNumber(it->value.text()));
            ++it;
        }
    }
    return tool.input.validate(args);
}

} // namespace sidecar::protocol
