#include "jsonschema.h"

#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "valijsonadapter.h"

namespace sidecar::json {

struct JsonSchema::Impl
{
    Document document; // the schema's tree must outlive the compiled schema's frozen values
    valijson::Schema schema;
};

JsonSchema::JsonSchema() = default;
JsonSchema::JsonSchema(JsonSchema &&) noexcept = default;
JsonSchema &JsonSchema::operator=(JsonSchema &&) noexcept = default;
JsonSchema::~JsonSchema() = default;

const Value &JsonSchema::root() const
{
    return m_impl->document.root();
}

Result<JsonSchema> JsonSchema::compile(const QByteArray &schemaText)
{
    ParseError error;
    auto doc = parse(schemaText, &error);
    if (!doc) {
        return fail(ErrorCode::Internal,
                    QStringLiteral("schema is not JSON: %1 at offset %2")
                        .arg(QString::fromStdString(error.message))
                        .arg(error.offset));
    }
    JsonSchema out;
    out.m_impl = std::make_unique<Impl>();
    out.m_impl->document = std::move(*doc);
    out.m_text = out.m_impl->document.root().compact();
    try {
        valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
        valijson::adapters::SidecarJsonAdapter adapter(out.m_impl->document.root());
        parser.populateSchema(adapter, out.m_impl->schema);
    } catch (const std::exception &e) {
        return fail(ErrorCode::Internal, QStringLiteral("invalid schema: %1").arg(QString::fromUtf8(e.what())));
    }
    return out;
}

namespace {

// "<root>", "[key]", "[0]" -> "key" / "items[0]"
QString pathOf(const std::vector<std::string> &context)
{
    QString path;
    for (const std::string &part : context) {
        if (part == "<root>")
            continue;
        QString p = QString::fromStdString(part);
        if (p.startsWith(u'[') && p.endsWith(u']')) {
            const QString inner = p.mid(1, p.size() - 2);
            bool isIndex = false;
            inner.toLongLong(&isIndex);
            if (isIndex) {
                path += p;
                continue;
            }
            p = inner;
        }
        if (!path.isEmpty())
            path += u'.';
        path += p;
    }
    return path;
}

} // namespace

QString JsonSchema::validate(const Value &value) const
{
    valijson::Validator validator(valijson::Validator::kStrongTypes);
    valijson::ValidationResults results;
    valijson::adapters::SidecarJsonAdapter target(value);
    bool ok = false;
    try {
        // Valid arguments (nearly every call) are checked without collecting results, which
        // stops at the first failure and records nothing; only invalid ones are validated
        // again, exhaustively, for the message.
        ok = validator.validate(m_impl->schema, target, nullptr) ||
             validator.validate(m_impl->schema, target, &results);
    } catch (const std::exception &e) {
        return QStringLiteral("arguments could not be validated: %1").arg(QString::fromUtf8(e.what()));
    }
    if (ok)
        return {};
    // valijson reports the outer constraint first and the specific cause last; the deepest
    // path is the most useful for a caller.
    valijson::ValidationResults::Error error;
    QString best;
    std::size_t bestDepth = 0;
    QString bestDescription;
    while (results.popError(error)) {
        if (best.isNull() || error.context.size() > bestDepth) {
            bestDepth = error.context.size();
            best = pathOf(error.context);
            bestDescription = QString::fromStdString(error.description);
        }
    }
    if (best.isEmpty())
        return bestDescription;
    return QStringLiteral("'%1': %2").arg(best, bestDescription);
}

} // namespace sidecar::json
