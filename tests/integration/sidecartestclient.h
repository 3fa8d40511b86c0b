#pragma once

// What the integration suites share on top of ServerProcess: a started, initialised server on a
// fresh database file whose every successful tools/call is checked against the contract's result
// rules (one text item holding the same object as structuredContent, which validates against the
// tool's own outputSchema and, for tools the original package had, against the original's
// outputSchema from docs/contract/seed-schemas.json), plus small readers for result fields.

#include <QByteArray>
#include <QSet>
#include <QString>
#include <QStringList>

#include <map>
#include <memory>
#include <optional>
#include <string_view>

#include "protocol/json.h"
#include "protocol/jsonschema.h"
#include "serverprocess.h"

namespace sidecar::test {

// A JSON string literal of `s`.
QByteArray quoted(const QString &s);
// The original package's schemas (docs/contract/seed-schemas.json, else ../shared/contract's copy),
// or empty when unreadable.
QByteArray seedSchemasText();
// Unix epoch seconds now.
double nowSeconds();

// A successful tools/call answer, with readers by path: "a.b.0.c" walks object keys and array
// indexes. text() gives the compact JSON of the node, or "<absent>".
class Reply
{
public:
    explicit Reply(json::Document doc) : m_doc(std::move(doc)) {}
    const json::Value &root() const;
    const json::Value *get(std::string_view path) const;
    bool has(std::string_view path) const { return get(path) != nullptr; }
    QByteArray text(std::string_view path = {}) const;
    QString str(std::string_view path) const;
    qint64 integer(std::string_view path) const;
    double number(std::string_view path) const;
    qsizetype count(std::string_view path) const; // items of an array, members of an object, else -1
    const json::Document &document() const { return m_doc; }

private:
    json::Document m_doc;
};

class SidecarClient
{
public:
    // Starts the server on `dbPath` (a fresh temp file when empty) with extra arguments and
    // initialises the session; false with problem() set otherwise. Reads tools/list to learn the
    // output schemas.
    bool start(const QStringList &extraArgs = {}, const QString &dbPath = {},
               const QByteArray &protocolVersion = "2025-11-25");
    // A successful call whose result obeys the contract's rules (see above); nullopt with
    // problem() set otherwise.
    std::optional<Reply> ok(const QString &tool, const QByteArray &argumentsJson);
    // A tool error: returns its code after checking its shape (isError, one text item with
    // {"error":{"code","message"}}, no structuredContent); otherwise a description of what came.
    QString toolError(const QString &tool, const QByteArray &argumentsJson);
    // The compact text of one field of a successful call's result, or "<error: ...>": for
    // QTRY_* conditions that poll.
    QByteArray okText(const QString &tool, const QByteArray &argumentsJson, std::string_view path = {});
    // The server answers a ping.
    bool alive();

    ServerProcess &process() { return m_proc; }
    const QString &dbPath() const { return m_dbPath; }
    const QString &problem() const { return m_problem; }
    // Tools whose results were checked against their schemas so far.
    const QSet<QString> &validatedTools() const { return m_validated; }
    QStringList toolNames() const;
    // The tools/list answer read at start.
    const json::Document &toolsList() const { return *m_toolsList; }

private:
    bool checkResult(const QString &tool, const json::Document &answer);

    ServerProcess m_proc;
    QString m_dbPath;
    QString m_problem;
    std::optional<json::Document> m_toolsList;
    std::optional<json::Document> m_seed;
    std::map<QString, std::unique_ptr<json::JsonSchema>> m_outputSchemas;
    std::map<QString, std::unique_ptr<json::JsonSchema>> m_seedOutputSchemas;
    QSet<QString> m_validated;
};

// A condition for QTRY_VERIFY_*, which evaluates its expression once more after it held: a
// condition with side effects (a claim, an acquire) must remember that it held.
template<class F>
auto heldOnce(F condition)
{
    return
        [condition = std::move(condition), held = false]() mutable { return held || (held = condition()); };
}

// A fresh database path in the process's temp directory.
QString freshDbPath(const QString &stem = QStringLiteral("sidecar"));

} // namespace sidecar::test

// QCOMPARE of a reply field's compact JSON text with the expected text.
#define CHECK_FIELD(reply, path, expected) QCOMPARE((reply).text(path), QByteArray(expected))
