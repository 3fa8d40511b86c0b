#include "sidecartestclient.h"

#include <QDateTime>
#include <QFile>
#include <QUuid>

#include <charconv>

namespace sidecar::test {

QByteArray quoted(const QString &s)
{
    QByteArray out;
    json::appendQuoted(out, s);
    return out;
}

QByteArray seedSchemasText()
{
    const QString source = qEnvironmentVariable("SIDECAR_SOURCE_DIR");
    const QStringList paths = {source + QStringLiteral("/docs/contract/seed-schemas.json"),
                               source + QStringLiteral("/../shared/contract/seed-schemas.json")};
    for (const QString &path : paths) {
        QFile file(path);
        if (file.open(QIODevice::ReadOnly))
            return file.readAll();
    }
    return {};
}

double nowSeconds()
{
    return double(QDateTime::currentMSecsSinceEpoch()) / 1000.0;
}

QString freshDbPath(const QString &stem)
{
    return tempPath(stem + u'-' + QUuid::createUuid().toString(QUuid::Id128) + QStringLiteral(".db"));
}

// ---------------------------------------------------------------- Reply

const json::Value &Reply::root() const
{
    static const json::Value null;
    const json::Value *sc = structured(m_doc);
    return sc ? *sc : null;
}

const json::Value *Reply::get(std::string_view path) const
{
    const json::Value *node = &root();
    while (!path.empty()) {
        const std::size_t dot = path.find('.');
        const std::string_view part = path.substr(0, dot);
        path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
        if (node->isArray()) {
            std::size_t index = 0;
            const auto parsed = std::from_chars(part.data(), part.data() + part.size(), index);
            if (parsed.ec != std::errc() || index >= node->items().size())
                return nullptr;
            node = &node->items()[index];
        } else {
            node = node->find(part);
            if (!node)
                return nullptr;
        }
    }
    return node;
}

QByteArray Reply::text(std::string_view path) const
{
    const json::Value *v = get(path);
    return v ? v->compact() : QByteArrayLiteral("<absent>");
}

QString Reply::str(std::string_view path) const
{
    const json::Value *v = get(path);
    return v && v->isString() ? v->toQString() : QString();
}

qint64 Reply::integer(std::string_view path) const
{
    const json::Value *v = get(path);
    return v ? v->toInt64().value_or(-1) : -1;
}

double Reply::number(std::string_view path) const
{
    const json::Value *v = get(path);
    return v ? v->toDouble().value_or(-1) : -1;
}

qsizetype Reply::count(std::string_view path) const
{
    const json::Value *v = get(path);
    if (!v)
        return -1;
    if (v->isArray())
        return qsizetype(v->items().size());
    if (v->isObject())
        return qsizetype(v->members().size());
    return -1;
}

// ---------------------------------------------------------------- SidecarClient

bool SidecarClient::start(const QStringList &extraArgs, const QString &dbPath,
                          const QByteArray &protocolVersion)
{
    m_dbPath = dbPath.isEmpty() ? freshDbPath() : dbPath;
    if (!m_proc.start(QStringList{QStringLiteral("--db-path"), m_dbPath} + extraArgs)) {
        m_problem = QStringLiteral("cannot start the server: ") + m_proc.errorString();
        return false;
    }
    if (!m_proc.initialize(protocolVersion)) {
        m_problem = m_proc.errorString();
        return false;
    }
    auto list = m_proc.request(QStringLiteral("tools/list"), "{}");
    const json::Value *tools = list ? list->root().find("result") : nullptr;
    tools = tools ? tools->find("tools") : nullptr;
    if (!tools || !tools->isArray()) {
        m_problem = QStringLiteral("tools/list failed");
        return false;
    }
    for (const json::Value &tool : tools->items()) {
        const json::Value *name = tool.find("name");
        const json::Value *schema = tool.find("outputSchema");
        if (!name || !schema)
            continue;
        auto compiled = json::JsonSchema::compile(schema->compact());
        if (!compiled) {
            m_problem = QStringLiteral("outputSchema of %1 does not compile: %2")
                            .arg(name->toQString(), compiled.error().message);
            return false;
        }
        m_outputSchemas[name->toQString()] = std::make_unique<json::JsonSchema>(std::move(*compiled));
    }
    m_toolsList = std::move(list);

    const QByteArray seedText = seedSchemasText();
    m_seed = json::parse(seedText);
    if (!m_seed || !m_seed->root().isObject()) {
        m_problem = QStringLiteral("cannot read seed-schemas.json (docs/contract, or ../shared/contract)");
        return false;
    }
    for (const json::Member &m : m_seed->root().members()) {
        const json::Value *schema = m.value.find("outputSchema");
        if (!schema)
            continue;
        auto compiled = json::JsonSchema::compile(schema->compact());
        if (!compiled) {
            m_problem = QStringLiteral("seed outputSchema of %1 does not compile: %2")
                            .arg(QString::fromStdString(m.key), compiled.error().message);
            return false;
        }
        m_seedOutputSchemas[QString::fromStdString(m.key)] = std::make_unique<json::JsonSchema>(
            std::move(*compiled));
    }
    return true;
}

QStringList SidecarClient::toolNames() const
{
    QStringList names;
    for (const auto &[name, schema] : m_outputSchemas)
        names.append(name);
    return names;
}

bool SidecarClient::checkResult(const QString &tool, const json::Document &answer)
{
    const QString where = tool + QStringLiteral(": ");
    const json::Value *result = answer.root().find("result");
    if (!result || !result->isObject()) {
        m_problem = where + QStringLiteral("no result in ") + QString::fromUtf8(answer.root().compact());
        return false;
    }
    const json::Value *isError = result->find("isError");
    if (isError && (!isError->isBool() || isError->toBool())) {
        m_problem = where + QStringLiteral("a tool error: ") + QString::fromUtf8(result->compact());
        return false;
    }
    const json::Value *sc = result->find("structuredContent");
    if (!sc || !sc->isObject()) {
        m_problem = where + QStringLiteral("structuredContent is not an object in ")
                    + QString::fromUtf8(result->compact());
        return false;
    }
    const json::Value *content = result->find("content");
    if (!content || !content->isArray() || content->items().size() != 1) {
        m_problem = where + QStringLiteral("content is not one item");
        return false;
    }
    const json::Value &item = content->items().front();
    const json::Value *type = item.find("type");
    const json::Value *text = item.find("text");
    if (!type || type->text() != "text" || !text || !text->isString()) {
        m_problem = where + QStringLiteral("content item is not text");
        return false;
    }
    auto inner = json::parse(QByteArray::fromStdString(text->text()));
    if (!inner || inner->root().compact() != sc->compact()) {
        m_problem = where
                    + QStringLiteral("the text item does not hold the same object as structuredContent: ")
                    + QString::fromStdString(text->text());
        return false;
    }
    const auto own = m_outputSchemas.find(tool);
    if (own == m_outputSchemas.end()) {
        m_problem = where + QStringLiteral("no outputSchema in tools/list");
        return false;
    }
    if (const QString why = own->second->validate(*sc); !why.isEmpty()) {
        m_problem = where + QStringLiteral("structuredContent does not validate against the outputSchema: ")
                    + why + QStringLiteral(" in ") + QString::fromUtf8(sc->compact());
        return false;
    }
    if (const auto seed = m_seedOutputSchemas.find(tool); seed != m_seedOutputSchemas.end()) {
        if (const QString why = seed->second->validate(*sc); !why.isEmpty()) {
            m_problem = where
                        + QStringLiteral("structuredContent does not validate against the original package's "
                                         "outputSchema: ")
                        + why + QStringLiteral(" in ") + QString::fromUtf8(sc->compact());
            return false;
        }
    }
    m_validated.insert(tool);
    return true;
}

std::optional<Reply> SidecarClient::ok(const QString &tool, const QByteArray &argumentsJson)
{
    auto answer = m_proc.call(tool, argumentsJson);
    if (!answer) {
        m_problem = tool + QStringLiteral(": no answer; stderr: ")
                    + QString::fromUtf8(m_proc.stderrText().right(2000));
        return std::nullopt;
    }
    if (!checkResult(tool, *answer))
        return std::nullopt;
    return Reply(std::move(*answer));
}

QString SidecarClient::toolError(const QString &tool, const QByteArray &argumentsJson)
{
    auto answer = m_proc.call(tool, argumentsJson);
    if (!answer)
        return QStringLiteral("<no answer>");
    const QString seen = QStringLiteral("<not a tool error: ") + QString::fromUtf8(answer->root().compact())
                         + u'>';
    const json::Value *result = answer->root().find("result");
    if (!result || !result->find("isError") || !result->find("isError")->toBool())
        return seen;
    if (result->find("structuredContent"))
        return QStringLiteral("<a tool error with structuredContent>");
    const json::Value *content = result->find("content");
    if (!content || !content->isArray() || content->items().size() != 1
        || !content->items().front().find("text"))
        return seen;
    auto inner = json::parse(QByteArray::fromStdString(content->items().front().find("text")->text()));
    const json::Value *error = inner ? inner->root().find("error") : nullptr;
    const json::Value *code = error ? error->find("code") : nullptr;
    const json::Value *message = error ? error->find("message") : nullptr;
    if (!code || !code->isString() || !message || !message->isString() || message->text().empty())
        return seen;
    return code->toQString();
}

QByteArray SidecarClient::okText(const QString &tool, const QByteArray &argumentsJson, std::string_view path)
{
    auto reply = ok(tool, argumentsJson);
    return reply ? reply->text(path) : QByteArrayLiteral("<error: ") + m_problem.toUtf8() + '>';
}

bool SidecarClient::alive()
{
    auto answer = m_proc.request(QStringLiteral("ping"), "{}");
    return answer && answer->root().find("result");
}

} // namespace sidecar::test
