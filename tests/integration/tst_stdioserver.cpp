// The real server binary over real stdio, on a fresh SQLite file per test: every tool of the
// contract (docs/contract/TOOLS.md) with its result fields and compatibility rules, values
// byte-exact, every JSON-RPC and tool error, hostile input, pipelining, the MCP lifecycle,
// tools/list, shutdown and durability, TTLs and the command line.

#include <QtTest>

#include <QDir>
#include <QProcess>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QTemporaryDir>

#include <csignal>
#include <fcntl.h>
#include <set>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sidecartestclient.h"

using namespace sidecar;
using namespace sidecar::test;

namespace {

const QStringList kContractTools = {
    QStringLiteral("state_set"),           QStringLiteral("state_get"),
    QStringLiteral("state_delete"),        QStringLiteral("state_list"),
    QStringLiteral("state_watch"),         QStringLiteral("workflow_create"),
    QStringLiteral("workflow_discover"),   QStringLiteral("workflow_claim"),
    QStringLiteral("workflow_claim_next"), QStringLiteral("workflow_heartbeat"),
    QStringLiteral("workflow_checkpoint"), QStringLiteral("workflow_complete"),
    QStringLiteral("workflow_resume"),     QStringLiteral("workflow_status"),
    QStringLiteral("workflow_list"),       QStringLiteral("lease_acquire"),
    QStringLiteral("lease_release"),       QStringLiteral("lease_renew"),
    QStringLiteral("lease_list"),          QStringLiteral("session_save"),
    QStringLiteral("session_restore"),     QStringLiteral("session_list"),
    QStringLiteral("session_delete"),      QStringLiteral("history_log"),
    QStringLiteral("sidecar_health"),      QStringLiteral("sidecar_reset"),
};

const QStringList kReadOnlyTools = {
    QStringLiteral("state_watch"),       QStringLiteral("state_get"),       QStringLiteral("state_list"),
    QStringLiteral("workflow_discover"), QStringLiteral("workflow_resume"), QStringLiteral("workflow_status"),
    QStringLiteral("workflow_list"),     QStringLiteral("lease_list"),      QStringLiteral("session_restore"),
    QStringLiteral("session_list"),      QStringLiteral("history_log"),     QStringLiteral("sidecar_health"),
};

const QStringList kDestructiveTools = {QStringLiteral("state_delete"), QStringLiteral("session_delete"),
                                       QStringLiteral("sidecar_reset")};

// Every setting TOOLS.md names ("Configuration").
const QStringList kSettings = {
    QStringLiteral("STATE_BACKEND"),
    QStringLiteral("DB_PATH"),
    QStringLiteral("REDIS_URL"),
    QStringLiteral("SIDECAR_HOST"),
    QStringLiteral("SIDECAR_PORT"),
    QStringLiteral("SIDECAR_TRANSPORT"),
    QStringLiteral("SIDECAR_CLAIM_TTL"),
    QStringLiteral("SIDECAR_HISTORY_LIMIT"),
    QStringLiteral("SIDECAR_HISTORY_MAX_BYTES"),
    QStringLiteral("SIDECAR_MAX_VALUE_BYTES"),
    QStringLiteral("SIDECAR_MAX_REPLY_BYTES"),
    QStringLiteral("SIDECAR_MAX_LIST"),
    QStringLiteral("SIDECAR_DURABILITY"),
    QStringLiteral("SIDECAR_ALLOWED_ORIGINS"),
    QStringLiteral("SIDECAR_TOKENS_FILE"),
    QStringLiteral("SIDECAR_ALLOW_RESET"),
    QStringLiteral("SIDECAR_INSECURE"),
    QStringLiteral("SIDECAR_LOG_LEVEL"),
    QStringLiteral("SIDECAR_REDIS_PREFIX"),
};

const QRegularExpression kRunId(QStringLiteral("^wf-[0-9a-f]{12}$"));

struct CliRun
{
    int exitCode = -1;
    QProcess::ExitStatus status = QProcess::CrashExit;
    QString out;
    QString err;
};

CliRun runCli(const QStringList &args, const QStringList &env = {})
{
    QTemporaryDir cwd;
    QProcess p;
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    for (const QString &kv : env)
        e.insert(kv.section(u'=', 0, 0), kv.section(u'=', 1));
    p.setProcessEnvironment(e);
    p.setWorkingDirectory(cwd.path());
    p.start(qEnvironmentVariable("SIDECAR_BIN"), args);
    p.closeWriteChannel();
    CliRun run;
    if (!p.waitForFinished(30000)) {
        p.kill();
        p.waitForFinished(5000);
        return run;
    }
    run.exitCode = p.exitCode();
    run.status = p.exitStatus();
    run.out = QString::fromUtf8(p.readAllStandardOutput());
    run.err = QString::fromUtf8(p.readAllStandardError());
    return run;
}

} // namespace

class TestStdioServer : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();

    // command line and lifecycle
    void commandLine_data();
    void commandLine();
    void helpListsEverySetting();
    void initializeNegotiation_data();
    void initializeNegotiation();
    void requestsBeforeInitialize();
    void toolsListMatchesContract();
    void toolsKeepTheOriginalArguments();
    void everyToolAnswersWithinItsSchemas();

    // the tools, group by group
    void kvSetGetDelete();
    void kvConditions();
    void kvList();
    void workflowLifecycle();
    void workflowUnknownRun();
    void workflowDiscoverAndClaimNext();
    void workflowClaimLapses();
    void workflowMaxAttempts();
    void leases();
    void leaseLapses();
    void sessions();
    void historyLog();
    void health();
    void resetForbiddenByDefault();
    void resetWhenAllowed();
    void perToolArgumentRules_data();
    void perToolArgumentRules();
    void compatibilityArguments_data();
    void compatibilityArguments();
    void idLimits_data();
    void idLimits();
    void valuesRoundTrip_data();
    void valuesRoundTrip();
    void ttlExpiry();
    void stateWatch();
    void stateWatchCompacted();

    // limits and configuration
    void valueSizeIsMeasuredCompact();
    void listLimits();
    void historyRetention();
    void repliesStayWithinTheReplyLimit();
    void claimTtlDefaultAndExtensions();
    void settingsFromTheEnvironment();

    // errors and hostile input
    void toolErrors_data();
    void toolErrors();
    void rpcErrors_data();
    void rpcErrors();
    void hostileInput_data();
    void hostileInput();
    void pipelinedRequests();
    void everyRequestAnsweredOnceWithItsId();
    void batchesOnlyIn20250326();

    // shutdown and durability
    void endOfInputAnswersEverythingAndExits();
    void sigtermExitsCleanlyKeepingAcknowledgedWrites();
    void acknowledgedWritesSurviveSigkill_data();
    void acknowledgedWritesSurviveSigkill();
    void restartKeepsEverything();
    void stdoutCarriesOnlyJsonRpc();
    void sigtermWhileTheClientStopsReading();

private:
    SidecarClient m_shared; // for the error tables: one server that must survive all of them
};

void TestStdioServer::initTestCase()
{
    const QString bin = qEnvironmentVariable("SIDECAR_BIN");
    QVERIFY2(!bin.isEmpty(), "SIDECAR_BIN is not set (run through ctest)");
    QVERIFY2(QFileInfo(bin).isExecutable(), qPrintable(bin + QStringLiteral(" is not executable")));
    QVERIFY2(!seedSchemasText().isEmpty(),
             "seed-schemas.json not found (docs/contract, or ../shared/contract)");
    QVERIFY2(m_shared.start({QStringLiteral("--max-value-bytes"), QStringLiteral("4096")}),
             qPrintable(m_shared.problem()));
}

// ---------------------------------------------------------------- command line and lifecycle

void TestStdioServer::commandLine_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("env");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("stdoutPattern");
    QTest::addColumn<QString>("stderrPattern");

    QTest::newRow("--help") << QStringList{QStringLiteral("--help")} << QStringList{} << 0
                            << QStringLiteral("DB_PATH[\\s\\S]*SIDECAR_MAX_VALUE_BYTES") << QString();
    QTest::newRow("-h") << QStringList{QStringLiteral("-h")} << QStringList{} << 0
                        << QStringLiteral("--db-path") << QString();
    QTest::newRow("--version") << QStringList{QStringLiteral("--version")} << QStringList{} << 0
                               << QStringLiteral("^mcp-state-sidecar \\d+\\.\\d+\\.\\d+\\s*$") << QString();
    QTest::newRow("bad integer") << QStringList{QStringLiteral("--max-value-bytes"), QStringLiteral("lots")}
                                 << QStringList{} << 2 << QStringLiteral("^$")
                                 << QStringLiteral("max-value-bytes|MAX_VALUE_BYTES");
    QTest::newRow("bad integer with =")
        << QStringList{QStringLiteral("--history-limit=0")} << QStringList{} << 2 << QStringLiteral("^$")
        << QStringLiteral("history-limit|HISTORY_LIMIT");
    QTest::newRow("negative seconds")
        << QStringList{QStringLiteral("--claim-ttl"), QStringLiteral("-5")} << QStringList{} << 2
        << QStringLiteral("^$") << QStringLiteral("claim-ttl|CLAIM_TTL");
    QTest::newRow("bad choice") << QStringList{QStringLiteral("--durability"), QStringLiteral("sometimes")}
                                << QStringList{} << 2 << QStringLiteral("^$")
                                << QStringLiteral("durability|DURABILITY");
    QTest::newRow("bad boolean") << QStringList{QStringLiteral("--allow-reset=maybe")} << QStringList{} << 2
                                 << QStringLiteral("^$") << QStringLiteral("allow-reset|ALLOW_RESET");
    QTest::newRow("missing value") << QStringList{QStringLiteral("--db-path")} << QStringList{} << 2
                                   << QStringLiteral("^$") << QStringLiteral("db-path|DB_PATH");
    QTest::newRow("unknown flag") << QStringList{QStringLiteral("--frobnicate")} << QStringList{} << 2
                                  << QStringLiteral("^$") << QStringLiteral("frobnicate");
    QTest::newRow("stray argument") << QStringList{QStringLiteral("stray")} << QStringList{} << 2
                                    << QStringLiteral("^$") << QStringLiteral("stray");
    QTest::newRow("bad environment value")
        << QStringList{} << QStringList{QStringLiteral("SIDECAR_MAX_VALUE_BYTES=lots")} << 2
        << QStringLiteral("^$") << QStringLiteral("SIDECAR_MAX_VALUE_BYTES");
    QTest::newRow("bad backend in environment")
        << QStringList{} << QStringList{QStringLiteral("STATE_BACKEND=mongodb")} << 2 << QStringLiteral("^$")
        << QStringLiteral("STATE_BACKEND");
}

void TestStdioServer::commandLine()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, env);
    QFETCH(int, exitCode);
    QFETCH(QString, stdoutPattern);
    QFETCH(QString, stderrPattern);

    const CliRun run = runCli(args, env);
    QCOMPARE(run.status, QProcess::NormalExit);
    QVERIFY2(run.exitCode == exitCode,
             qPrintable(QStringLiteral("exit %1, stderr: %2").arg(run.exitCode).arg(run.err)));
    QVERIFY2(QRegularExpression(stdoutPattern).match(run.out).hasMatch(), qPrintable(run.out));
    if (!stderrPattern.isEmpty())
        QVERIFY2(QRegularExpression(stderrPattern).match(run.err).hasMatch(), qPrintable(run.err));
    if (exitCode == 2)
        QVERIFY2(run.err.trimmed().size() > 10, "a bad value must be a clear message on stderr");
}

void TestStdioServer::helpListsEverySetting()
{
    const CliRun run = runCli({QStringLiteral("--help")});
    QCOMPARE(run.exitCode, 0);
    for (const QString &name : kSettings)
        QVERIFY2(run.out.contains(name), qPrintable(name + QStringLiteral(" is missing from --help")));
    for (const QString &flag :
         {QStringLiteral("--db-path"), QStringLiteral("--allow-reset"), QStringLiteral("--max-value-bytes"),
          QStringLiteral("--claim-ttl"), QStringLiteral("--history-limit")})
        QVERIFY2(run.out.contains(flag), qPrintable(flag + QStringLiteral(" is missing from --help")));
}

void TestStdioServer::initializeNegotiation_data()
{
    QTest::addColumn<QByteArray>("asked");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("2025-11-25") << QByteArray("2025-11-25") << QByteArray("2025-11-25");
    QTest::newRow("2025-06-18") << QByteArray("2025-06-18") << QByteArray("2025-06-18");
    QTest::newRow("2025-03-26") << QByteArray("2025-03-26") << QByteArray("2025-03-26");
    QTest::newRow("older unknown") << QByteArray("2024-11-05") << QByteArray("2025-11-25");
    QTest::newRow("future unknown") << QByteArray("2099-01-01") << QByteArray("2025-11-25");
    QTest::newRow("garbage") << QByteArray("not-a-version") << QByteArray("2025-11-25");
}

void TestStdioServer::initializeNegotiation()
{
    QFETCH(QByteArray, asked);
    QFETCH(QByteArray, expected);
    ServerProcess p;
    QVERIFY2(p.start({QStringLiteral("--db-path"), freshDbPath()}), qPrintable(p.errorString()));
    auto answer = p.request(QStringLiteral("initialize"),
                            R"({"protocolVersion":")" + asked
                                + R"(","capabilities":{},"clientInfo":{"name":"t","version":"1"}})");
    QVERIFY(answer);
    const json::Value *result = answer->root().find("result");
    QVERIFY2(result, answer->root().compact().constData());
    QCOMPARE(result->find("protocolVersion")->compact(), '"' + expected + '"');
    QVERIFY(result->find("capabilities") && result->find("capabilities")->find("tools"));
    QCOMPARE(result->find("serverInfo")->find("name")->toQString(), QStringLiteral("MCP State Sidecar"));
    QVERIFY(result->find("serverInfo")->find("version")->isString());
    p.sendLine(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    auto list = p.request(QStringLiteral("tools/list"), "{}");
    QVERIFY(list && list->root().find("result"));
    auto health = p.call(QStringLiteral("sidecar_health"), "{}");
    QVERIFY(health && structured(*health));
}

void TestStdioServer::requestsBeforeInitialize()
{
    ServerProcess p;
    QVERIFY2(p.start({QStringLiteral("--db-path"), freshDbPath()}), qPrintable(p.errorString()));
    // ping is allowed at any time (MCP "Lifecycle").
    auto ping = p.request(QStringLiteral("ping"), "{}");
    QVERIFY(ping && ping->root().find("result"));
    // A tool call before initialize is an error with the request's id, and the server goes on.
    p.sendLine(toolCall("\"early\"", "state_get", R"({"key":"k"})"));
    auto early = p.waitFor("\"early\"");
    QVERIFY(early);
    QVERIFY2(early->root().find("error"), early->root().compact().constData());
    QVERIFY(p.initialize());
    auto late = p.call(QStringLiteral("state_get"), R"({"key":"k"})");
    QVERIFY(late && structured(*late));
}

void TestStdioServer::toolsListMatchesContract()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    const json::Value *tools = s.toolsList().root().find("result")->find("tools");
    QStringList names;
    for (const json::Value &tool : tools->items()) {
        const QString name = tool.find("name")->toQString();
        names.append(name);
        const QByteArray where = name.toUtf8();
        QVERIFY2(tool.find("description") && tool.find("description")->isString()
                     && !tool.find("description")->text().empty(),
                 where.constData());
        const json::Value *input = tool.find("inputSchema");
        QVERIFY2(input && input->isObject(), where.constData());
        QCOMPARE(input->find("type")->compact(), QByteArray("\"object\""));
        QVERIFY2(input->find("additionalProperties")
                     && input->find("additionalProperties")->compact() == "false",
                 where.constData());
        QVERIFY2(json::JsonSchema::compile(input->compact()).has_value(), where.constData());
        const json::Value *output = tool.find("outputSchema");
        QVERIFY2(output && output->isObject(), where.constData());
        QCOMPARE(output->find("type")->compact(), QByteArray("\"object\""));

        const json::Value *annotations = tool.find("annotations");
        QVERIFY2(annotations && annotations->isObject(), where.constData());
        for (const char *hint : {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"})
            QVERIFY2(annotations->find(hint) && annotations->find(hint)->isBool(),
                     QByteArray(where + ' ' + hint).constData());
        QVERIFY2(!annotations->find("openWorldHint")->toBool(), where.constData());
        QCOMPARE(annotations->find("destructiveHint")->toBool(), kDestructiveTools.contains(name));
        QCOMPARE(annotations->find("readOnlyHint")->toBool(), kReadOnlyTools.contains(name));
        if (annotations->find("readOnlyHint")->toBool())
            QVERIFY2(annotations->find("idempotentHint")->toBool(), where.constData());
    }
    QStringList expected = kContractTools;
    expected.sort();
    QStringList sortedNames = names;
    sortedNames.sort();
    QCOMPARE(sortedNames, expected);
    QCOMPARE(QSet<QString>(names.begin(), names.end()).size(), names.size()); // no tool twice
}

void TestStdioServer::toolsKeepTheOriginalArguments()
{
    // An agent written against the original package sends the original's arguments: each must
    // still exist, and no argument the original did not require may be required now.
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    auto seed = json::parse(seedSchemasText());
    QVERIFY(seed);
    const json::Value *tools = s.toolsList().root().find("result")->find("tools");
    for (const json::Member &m : seed->root().members()) {
        const json::Value *ours = nullptr;
        for (const json::Value &tool : tools->items()) {
            if (tool.find("name")->text() == m.key)
                ours = &tool;
        }
        QVERIFY2(ours, (m.key + " of the original package is missing").c_str());
        const json::Value *ourInput = ours->find("inputSchema");
        const json::Value *theirProps = m.value.find("inputSchema")->find("properties");
        for (const json::Member &prop : theirProps->members())
            QVERIFY2(ourInput->find("properties") && ourInput->find("properties")->find(prop.key),
                     (m.key + ": argument " + prop.key + " is gone").c_str());
        std::set<std::string> theirRequired;
        if (const json::Value *req = m.value.find("inputSchema")->find("required"))
            for (const json::Value &r : req->items())
                theirRequired.insert(r.text());
        if (const json::Value *req = ourInput->find("required"))
            for (const json::Value &r : req->items())
                QVERIFY2(theirRequired.count(r.text()) || m.key == "sidecar_reset",
                         (m.key + ": argument " + r.text() + " is newly required").c_str());
    }
}

void TestStdioServer::everyToolAnswersWithinItsSchemas()
{
    // One pass over every tool (with positive and negative outcomes); SidecarClient::ok() checks
    // each result against the tool's outputSchema and the original's.
    SidecarClient s;
    QVERIFY2(s.start({QStringLiteral("--allow-reset")}), qPrintable(s.problem()));
    const QList<QPair<QString, QByteArray>> calls = {
        {QStringLiteral("state_set"), R"({"key":"k","value":{"v":1},"ttl_seconds":60,"agent_id":"a"})"},
        {QStringLiteral("state_set"), R"({"key":"k","value":2,"if_version":0})"},
        {QStringLiteral("state_watch"), R"({"since_revision":0,"timeout_seconds":0})"},
        {QStringLiteral("state_watch"),
         R"({"since_revision":0,"key":"k","kind":"kv","timeout_seconds":0.1})"},
        {QStringLiteral("state_get"), R"({"key":"k"})"},
        {QStringLiteral("state_get"), R"({"key":"missing"})"},
        {QStringLiteral("state_list"), R"({})"},
        {QStringLiteral("state_list"), R"({"prefix":"k","delimiter":"/","limit":1})"},
        {QStringLiteral("state_delete"), R"({"key":"k"})"},
        {QStringLiteral("state_delete"), R"({"key":"k"})"},
        {QStringLiteral("workflow_create"),
         R"({"name":"n","tags":{"t":"1"},"input":[1],"idempotency_key":"i"})"},
        {QStringLiteral("workflow_create"), R"({"name":"n","idempotency_key":"i"})"},
        {QStringLiteral("workflow_discover"), R"({"tags":{"t":"1"}})"},
        {QStringLiteral("workflow_list"), R"({})"},
        {QStringLiteral("workflow_claim_next"), R"({"agent_id":"a","ttl_seconds":60})"},
        {QStringLiteral("workflow_claim_next"), R"({"agent_id":"b"})"},
        {QStringLiteral("workflow_claim"), R"({"run_id":"wf-000000000000","agent_id":"a"})"},
        {QStringLiteral("workflow_heartbeat"), R"({"run_id":"wf-000000000000","agent_id":"a"})"},
        {QStringLiteral("workflow_checkpoint"), R"({"run_id":"wf-000000000000","step":1,"output":1})"},
        {QStringLiteral("workflow_complete"),
         R"({"run_id":"wf-000000000000","agent_id":"a","status":"done"})"},
        {QStringLiteral("lease_acquire"), R"({"resource_id":"r","holder_id":"h","ttl_seconds":60})"},
        {QStringLiteral("lease_acquire"), R"({"resource_id":"r","holder_id":"g","ttl_seconds":60})"},
        {QStringLiteral("lease_renew"), R"({"resource_id":"r","holder_id":"h","ttl_seconds":60})"},
        {QStringLiteral("lease_renew"), R"({"resource_id":"r","holder_id":"g","ttl_seconds":60})"},
        {QStringLiteral("lease_list"), R"({})"},
        {QStringLiteral("lease_release"), R"({"resource_id":"r","holder_id":"h"})"},
        {QStringLiteral("session_save"), R"({"session_id":"s","context":{"c":1},"agent_id":"a"})"},
        {QStringLiteral("session_restore"), R"({"session_id":"s"})"},
        {QStringLiteral("session_restore"), R"({"session_id":"none"})"},
        {QStringLiteral("session_list"), R"({})"},
        {QStringLiteral("session_delete"), R"({"session_id":"s"})"},
        {QStringLiteral("history_log"), R"({"n":1000})"},
        {QStringLiteral("sidecar_health"), R"({})"},
    };
    for (const auto &[tool, args] : calls)
        QVERIFY2(s.ok(tool, args), qPrintable(s.problem()));

    // The run created above, through the per-run tools.
    auto list = s.ok(QStringLiteral("workflow_list"), "{}");
    QVERIFY2(list, qPrintable(s.problem()));
    const QByteArray run = quoted(list->str("runs.0.run_id"));
    for (const auto &[tool, args] : QList<QPair<QString, QByteArray>>{
             {QStringLiteral("workflow_claim"), R"({"run_id":)" + run + R"(,"agent_id":"a"})"},
             {QStringLiteral("workflow_claim"), R"({"run_id":)" + run + R"(,"agent_id":"b"})"},
             {QStringLiteral("workflow_heartbeat"), R"({"run_id":)" + run + R"(,"agent_id":"a"})"},
             {QStringLiteral("workflow_checkpoint"),
              R"({"run_id":)" + run + R"(,"step":1,"output":"o","agent_id":"a"})"},
             {QStringLiteral("workflow_status"), R"({"run_id":)" + run + "}"},
             {QStringLiteral("workflow_resume"), R"({"run_id":)" + run + "}"},
             {QStringLiteral("workflow_complete"),
              R"({"run_id":)" + run + R"(,"agent_id":"a","status":"done","result":{}})"},
             {QStringLiteral("workflow_resume"), R"({"run_id":)" + run + "}"},
             {QStringLiteral("workflow_discover"), R"({"status":"done"})"},
             {QStringLiteral("sidecar_reset"), R"({"confirm":"RESET"})"},
             {QStringLiteral("history_log"), R"({})"},
         })
        QVERIFY2(s.ok(tool, args), qPrintable(s.problem()));

    QStringList validated = s.validatedTools().values();
    validated.sort();
    QStringList all = s.toolNames();
    all.sort();
    QCOMPARE(validated, all);
}

// ---------------------------------------------------------------- group 1: key-value

void TestStdioServer::kvSetGetDelete()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));

    auto set = s.ok(QStringLiteral("state_set"), R"({"key":"k1","value":{"x":1},"agent_id":"agent-1"})");
    QVERIFY2(set, qPrintable(s.problem()));
    CHECK_FIELD(*set, "ok", "true");
    CHECK_FIELD(*set, "key", "\"k1\"");
    QVERIFY(set->integer("version") > 0);
    QVERIFY(set->integer("revision") > 0);
    QCOMPARE(set->integer("version"),
             set->integer("revision")); // version: the revision of the key's last write
    QVERIFY(!set->has("expires_at") || set->text("expires_at") == "null");

    auto get = s.ok(QStringLiteral("state_get"), R"({"key":"k1"})");
    QVERIFY2(get, qPrintable(s.problem()));
    CHECK_FIELD(*get, "key", "\"k1\"");
    CHECK_FIELD(*get, "value", R"({"x":1})");
    CHECK_FIELD(*get, "found", "true");
    QCOMPARE(get->integer("version"), set->integer("version"));
    CHECK_FIELD(*get, "expires_at", "null");
    CHECK_FIELD(*get, "agent_id", "\"agent-1\"");
    QVERIFY(qAbs(get->number("updated_at") - nowSeconds()) < 60);
    QVERIFY(get->integer("revision") >= set->integer("revision"));

    // Missing: value null and found false, both present.
    auto missing = s.ok(QStringLiteral("state_get"), R"({"key":"nope"})");
    QVERIFY2(missing, qPrintable(s.problem()));
    CHECK_FIELD(*missing, "key", "\"nope\"");
    CHECK_FIELD(*missing, "value", "null");
    CHECK_FIELD(*missing, "found", "false");

    // A TTL gives expires_at = now + ttl with sub-second precision; a set without one clears it.
    const double before = nowSeconds();
    auto withTtl = s.ok(QStringLiteral("state_set"), R"({"key":"k1","value":2,"ttl_seconds":100.25})");
    QVERIFY2(withTtl, qPrintable(s.problem()));
    QVERIFY(withTtl->integer("version") > set->integer("version"));
    QVERIFY2(qAbs(withTtl->number("expires_at") - (before + 100.25)) < 30, withTtl->text().constData());
    auto got = s.ok(QStringLiteral("state_get"), R"({"key":"k1"})");
    QVERIFY2(got, qPrintable(s.problem()));
    QVERIFY2(qAbs(got->number("expires_at") - got->number("updated_at") - 100.25) < 0.01,
             got->text().constData());
    CHECK_FIELD(*got, "agent_id", "null");
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"k1","value":3})"));
    got = s.ok(QStringLiteral("state_get"), R"({"key":"k1"})");
    QVERIFY2(got, qPrintable(s.problem()));
    CHECK_FIELD(*got, "value", "3");
    CHECK_FIELD(*got, "expires_at", "null");

    // Delete: ok true once, then false; the key is gone.
    auto del = s.ok(QStringLiteral("state_delete"), R"({"key":"k1","agent_id":"agent-2"})");
    QVERIFY2(del, qPrintable(s.problem()));
    CHECK_FIELD(*del, "ok", "true");
    QVERIFY(del->integer("revision") > got->integer("version"));
    auto again = s.ok(QStringLiteral("state_delete"), R"({"key":"k1"})");
    QVERIFY2(again, qPrintable(s.problem()));
    CHECK_FIELD(*again, "ok", "false");
    auto gone = s.ok(QStringLiteral("state_get"), R"({"key":"k1"})");
    QVERIFY2(gone, qPrintable(s.problem()));
    CHECK_FIELD(*gone, "found", "false");
    CHECK_FIELD(*gone, "value", "null");

    // Revisions are strictly increasing over writes of any key.
    qint64 last = del->integer("revision");
    for (int i = 0; i < 5; ++i) {
        auto w = s.ok(QStringLiteral("state_set"),
                      R"({"key":"r)" + QByteArray::number(i) + R"(","value":true})");
        QVERIFY2(w, qPrintable(s.problem()));
        QVERIFY(w->integer("revision") > last);
        last = w->integer("revision");
    }
}

void TestStdioServer::kvConditions()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));

    // if_version 0: only if absent.
    auto created = s.ok(QStringLiteral("state_set"), R"({"key":"c","value":"first","if_version":0})");
    QVERIFY2(created, qPrintable(s.problem()));
    CHECK_FIELD(*created, "ok", "true");
    const qint64 v1 = created->integer("version");
    auto refused = s.ok(QStringLiteral("state_set"), R"({"key":"c","value":"second","if_version":0})");
    QVERIFY2(refused, qPrintable(s.problem()));
    CHECK_FIELD(*refused, "ok", "false");
    CHECK_FIELD(*refused, "conflict", "true");
    QCOMPARE(refused->integer("current_version"), v1);
    QVERIFY(!refused->str("reason").isEmpty());
    QVERIFY(!refused->has("version"));

    // if_version n: only if the key's version is n.
    auto cas = s.ok(QStringLiteral("state_set"),
                    R"({"key":"c","value":"second","if_version":)" + QByteArray::number(v1) + "}");
    QVERIFY2(cas, qPrintable(s.problem()));
    CHECK_FIELD(*cas, "ok", "true");
    const qint64 v2 = cas->integer("version");
    QVERIFY(v2 > v1);
    auto stale = s.ok(QStringLiteral("state_set"),
                      R"({"key":"c","value":"third","if_version":)" + QByteArray::number(v1) + "}");
    QVERIFY2(stale, qPrintable(s.problem()));
    CHECK_FIELD(*stale, "ok", "false");
    CHECK_FIELD(*stale, "conflict", "true");
    QCOMPARE(stale->integer("current_version"), v2);
    auto absent = s.ok(QStringLiteral("state_set"), R"({"key":"absent","value":1,"if_version":5})");
    QVERIFY2(absent, qPrintable(s.problem()));
    CHECK_FIELD(*absent, "ok", "false");
    CHECK_FIELD(*absent, "current_version", "0");
    auto value = s.ok(QStringLiteral("state_get"), R"({"key":"c"})");
    QVERIFY2(value, qPrintable(s.problem()));
    CHECK_FIELD(*value, "value", "\"second\"");

    // Conditional delete.
    auto badDelete = s.ok(QStringLiteral("state_delete"),
                          R"({"key":"c","if_version":)" + QByteArray::number(v1) + "}");
    QVERIFY2(badDelete, qPrintable(s.problem()));
    CHECK_FIELD(*badDelete, "ok", "false");
    CHECK_FIELD(*badDelete, "conflict", "true");
    QCOMPARE(badDelete->integer("current_version"), v2);
    auto goodDelete = s.ok(QStringLiteral("state_delete"),
                           R"({"key":"c","if_version":)" + QByteArray::number(v2) + "}");
    QVERIFY2(goodDelete, qPrintable(s.problem()));
    CHECK_FIELD(*goodDelete, "ok", "true");

    // require_lease: only while that holder holds that lease, and with a fence only under that grant.
    auto lease = s.ok(QStringLiteral("lease_acquire"),
                      R"({"resource_id":"res","holder_id":"h1","ttl_seconds":60})");
    QVERIFY2(lease, qPrintable(s.problem()));
    const QByteArray fence = lease->text("fence");
    auto guarded = s.ok(QStringLiteral("state_set"),
                        R"({"key":"g","value":1,"require_lease":{"resource_id":"res","holder_id":"h1"}})");
    QVERIFY2(guarded, qPrintable(s.problem()));
    CHECK_FIELD(*guarded, "ok", "true");
    auto withFence = s.ok(QStringLiteral("state_set"),
                          R"({"key":"g","value":2,"require_lease":{"resource_id":"res",)"
                          R"("holder_id":"h1","fence":)"
                              + fence + "}}");
    QVERIFY2(withFence, qPrintable(s.problem()));
    CHECK_FIELD(*withFence, "ok", "true");
    auto otherHolder = s.ok(
        QStringLiteral("state_set"),
        R"({"key":"g","value":3,"require_lease":{"resource_id":"res","holder_id":"h2"}})");
    QVERIFY2(otherHolder, qPrintable(s.problem()));
    CHECK_FIELD(*otherHolder, "ok", "false");
    QVERIFY(!otherHolder->str("reason").isEmpty());
    auto wrongFence = s.ok(QStringLiteral("state_set"),
                           R"({"key":"g","value":4,"require_lease":{"resource_id":"res",)"
                           R"("holder_id":"h1","fence":)"
                               + QByteArray::number(fence.toLongLong() + 1000) + "}}");
    QVERIFY2(wrongFence, qPrintable(s.problem()));
    CHECK_FIELD(*wrongFence, "ok", "false");
    auto noLease = s.ok(QStringLiteral("state_delete"),
                        R"({"key":"g","require_lease":{"resource_id":"other","holder_id":"h1"}})");
    QVERIFY2(noLease, qPrintable(s.problem()));
    CHECK_FIELD(*noLease, "ok", "false");
    auto kept = s.ok(QStringLiteral("state_get"), R"({"key":"g"})");
    QVERIFY2(kept, qPrintable(s.problem()));
    CHECK_FIELD(*kept, "value", "2");
    auto guardedDelete = s.ok(QStringLiteral("state_delete"),
                              R"({"key":"g","require_lease":{"resource_id":"res","holder_id":"h1","fence":)"
                                  + fence + "}}");
    QVERIFY2(guardedDelete, qPrintable(s.problem()));
    CHECK_FIELD(*guardedDelete, "ok", "true");
}

void TestStdioServer::kvList()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    const QStringList keys = {QStringLiteral("a/b"),  QStringLiteral("a/c/d"), QStringLiteral("a%x"),
                              QStringLiteral("A/b"),  QStringLiteral("a_b"),   QStringLiteral("ab"),
                              QStringLiteral("a\\b"), QStringLiteral("b"),     QStringLiteral("a*"),
                              QStringLiteral("é")};
    for (const QString &k : keys)
        QVERIFY2(s.ok(QStringLiteral("state_set"), R"({"key":)" + quoted(k) + R"(,"value":0})"),
                 qPrintable(s.problem()));
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"a/expired","value":0,"ttl_seconds":0.001})"));

    // Sorted in byte order (UTF-8), live keys only.
    QStringList sorted = keys;
    std::sort(sorted.begin(), sorted.end(),
              [](const QString &x, const QString &y) { return x.toUtf8() < y.toUtf8(); });
    QByteArray expected = "[";
    for (const QString &k : sorted)
        expected += (expected.size() > 1 ? "," : "") + quoted(k);
    expected += ']';
    QTRY_COMPARE_WITH_TIMEOUT(s.okText(QStringLiteral("state_list"), "{}", "keys"), expected, 10000);
    auto all = s.ok(QStringLiteral("state_list"), "{}");
    QVERIFY2(all, qPrintable(s.problem()));
    QVERIFY(all->integer("revision") > 0);

    // The prefix is literal and case-sensitive: no LIKE or glob wildcards, no escapes.
    const QList<QPair<QByteArray, QByteArray>> prefixes = {
        {"a_", R"(["a_b"])"}, {"a%", R"(["a%x"])"},         {"a*", R"(["a*"])"}, {"a\\\\", R"(["a\\b"])"},
        {"A", R"(["A/b"])"},  {"a/", R"(["a/b","a/c/d"])"}, {"zz", R"([])"},     {"", all->text("keys")},
    };
    for (const auto &[prefix, want] : prefixes) {
        auto r = s.ok(QStringLiteral("state_list"), R"({"prefix":")" + prefix + R"("})");
        QVERIFY2(r, qPrintable(s.problem()));
        QVERIFY2(r->text("keys") == want, QByteArray(prefix + " -> " + r->text("keys")).constData());
    }

    // Delimiter: keys with it after the prefix roll up into prefixes.
    auto tree = s.ok(QStringLiteral("state_list"), R"({"prefix":"a/","delimiter":"/"})");
    QVERIFY2(tree, qPrintable(s.problem()));
    CHECK_FIELD(*tree, "keys", R"(["a/b"])");
    CHECK_FIELD(*tree, "prefixes", R"(["a/c/"])");
    auto top = s.ok(QStringLiteral("state_list"), R"({"delimiter":"/"})");
    QVERIFY2(top, qPrintable(s.problem()));
    CHECK_FIELD(*top, "prefixes", R"(["A/","a/"])");
    QVERIFY(!top->text("keys").contains("a/b"));

    // Paging: limit gives pages and next_cursor; together they are every key once.
    QStringList paged;
    QByteArray cursor;
    for (int page = 0; page < 20; ++page) {
        QByteArray args = R"({"limit":3)";
        if (!cursor.isEmpty())
            args += R"(,"cursor":)" + cursor;
        args += '}';
        auto r = s.ok(QStringLiteral("state_list"), args);
        QVERIFY2(r, qPrintable(s.problem()));
        QVERIFY(r->count("keys") <= 3);
        for (const json::Value &k : r->get("keys")->items())
            paged.append(k.toQString());
        if (!r->has("next_cursor") || r->text("next_cursor") == "null")
            break;
        cursor = r->text("next_cursor");
    }
    QCOMPARE(paged, sorted);
    // A cursor sent with other filters, or made up, is invalid_argument.
    auto first = s.ok(QStringLiteral("state_list"), R"({"limit":2})");
    QVERIFY2(first && first->has("next_cursor"), qPrintable(s.problem()));
    QCOMPARE(s.toolError(QStringLiteral("state_list"),
                         R"({"limit":2,"prefix":"a","cursor":)" + first->text("next_cursor") + "}"),
             QStringLiteral("invalid_argument"));
    QCOMPARE(s.toolError(QStringLiteral("state_list"), R"({"limit":2,"cursor":"not-a-cursor"})"),
             QStringLiteral("invalid_argument"));
}

// ---------------------------------------------------------------- group 2: workflows

void TestStdioServer::workflowLifecycle()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));

    const double before = nowSeconds();
    auto created = s.ok(QStringLiteral("workflow_create"),
                        R"({"name":"build","tags":{"team":"a","env":"prod"},"input":{"z":1,"a":[1.0]}})");
    QVERIFY2(created, qPrintable(s.problem()));
    const QString run = created->str("run_id");
    QVERIFY2(kRunId.match(run).hasMatch(), qPrintable(run));
    CHECK_FIELD(*created, "name", "\"build\"");
    CHECK_FIELD(*created, "status", "\"created\"");
    QVERIFY(qAbs(created->number("created_at") - before) < 60);
    CHECK_FIELD(*created, "created", "true");
    const QByteArray runJson = quoted(run);

    auto status = s.ok(QStringLiteral("workflow_status"), R"({"run_id":)" + runJson + "}");
    QVERIFY2(status, qPrintable(s.problem()));
    CHECK_FIELD(*status, "run_id", runJson);
    CHECK_FIELD(*status, "status", "\"created\"");
    CHECK_FIELD(*status, "last_step", "0");
    CHECK_FIELD(*status, "agent_id", "null");
    QVERIFY(status->has("created_at") && status->has("updated_at"));

    // Claim: the winner's fields, reason null.
    auto claim = s.ok(QStringLiteral("workflow_claim"),
                      R"({"run_id":)" + runJson + R"(,"agent_id":"A","ttl_seconds":60})");
    QVERIFY2(claim, qPrintable(s.problem()));
    CHECK_FIELD(*claim, "claimed", "true");
    CHECK_FIELD(*claim, "run_id", runJson);
    CHECK_FIELD(*claim, "agent_id", "\"A\"");
    CHECK_FIELD(*claim, "reason", "null");
    CHECK_FIELD(*claim, "attempt", "1");
    const qint64 fence = claim->integer("fence");
    QVERIFY(fence > 0);
    QVERIFY(qAbs(claim->number("claim_expires_at") - (before + 60)) < 30);

    // A second claimer loses: agent_id null and the reason names the holder.
    auto lost = s.ok(QStringLiteral("workflow_claim"), R"({"run_id":)" + runJson + R"(,"agent_id":"B"})");
    QVERIFY2(lost, qPrintable(s.problem()));
    CHECK_FIELD(*lost, "claimed", "false");
    CHECK_FIELD(*lost, "run_id", runJson);
    CHECK_FIELD(*lost, "agent_id", "null");
    QVERIFY2(lost->str("reason").contains(u'A'), lost->text().constData());
    QVERIFY(!lost->has("fence"));

    // The holder claiming again extends and keeps fence and attempt.
    auto again = s.ok(QStringLiteral("workflow_claim"),
                      R"({"run_id":)" + runJson + R"(,"agent_id":"A","ttl_seconds":120})");
    QVERIFY2(again, qPrintable(s.problem()));
    CHECK_FIELD(*again, "claimed", "true");
    QCOMPARE(again->integer("fence"), fence);
    CHECK_FIELD(*again, "attempt", "1");
    QVERIFY(again->number("claim_expires_at") > claim->number("claim_expires_at"));

    auto claimedStatus = s.ok(QStringLiteral("workflow_status"), R"({"run_id":)" + runJson + "}");
    QVERIFY2(claimedStatus, qPrintable(s.problem()));
    CHECK_FIELD(*claimedStatus, "status", "\"claimed\"");
    CHECK_FIELD(*claimedStatus, "agent_id", "\"A\"");
    QCOMPARE(claimedStatus->integer("fence"), fence);
    CHECK_FIELD(*claimedStatus, "attempt", "1");

    // Heartbeats: the holder extends, others are refused.
    auto beat = s.ok(QStringLiteral("workflow_heartbeat"),
                     R"({"run_id":)" + runJson + R"(,"agent_id":"A","ttl_seconds":200})");
    QVERIFY2(beat, qPrintable(s.problem()));
    CHECK_FIELD(*beat, "ok", "true");
    CHECK_FIELD(*beat, "run_id", runJson);
    QVERIFY(beat->number("claim_expires_at") > again->number("claim_expires_at"));
    auto foreignBeat = s.ok(QStringLiteral("workflow_heartbeat"),
                            R"({"run_id":)" + runJson + R"(,"agent_id":"B"})");
    QVERIFY2(foreignBeat, qPrintable(s.problem()));
    CHECK_FIELD(*foreignBeat, "ok", "false");
    QVERIFY(!foreignBeat->str("reason").isEmpty());
    auto staleBeat = s.ok(QStringLiteral("workflow_heartbeat"), R"({"run_id":)" + runJson
                                                                    + R"(,"agent_id":"A","fence":)"
                                                                    + QByteArray::number(fence + 1000) + "}");
    QVERIFY2(staleBeat, qPrintable(s.problem()));
    CHECK_FIELD(*staleBeat, "ok", "false");

    // Checkpoints: fenced by the holder, refused for others, unfenced accepted (compatibility).
    auto cp1 = s.ok(QStringLiteral("workflow_checkpoint"),
                    R"({"run_id":)" + runJson + R"(,"step":1,"output":{"s":1},"agent_id":"A","fence":)"
                        + QByteArray::number(fence) + "}");
    QVERIFY2(cp1, qPrintable(s.problem()));
    CHECK_FIELD(*cp1, "ok", "true");
    CHECK_FIELD(*cp1, "run_id", runJson);
    CHECK_FIELD(*cp1, "step", "1");
    QVERIFY(cp1->integer("revision") > fence);
    auto running = s.ok(QStringLiteral("workflow_status"), R"({"run_id":)" + runJson + "}");
    QVERIFY2(running, qPrintable(s.problem()));
    CHECK_FIELD(*running, "status", "\"running\"");
    CHECK_FIELD(*running, "last_step", "1");
    auto foreignCp = s.ok(QStringLiteral("workflow_checkpoint"),
                          R"({"run_id":)" + runJson + R"(,"step":2,"output":"x","agent_id":"B"})");
    QVERIFY2(foreignCp, qPrintable(s.problem()));
    CHECK_FIELD(*foreignCp, "ok", "false");
    CHECK_FIELD(*foreignCp, "step", "2");
    QVERIFY(!foreignCp->str("reason").isEmpty());
    auto staleCp = s.ok(QStringLiteral("workflow_checkpoint"), R"({"run_id":)" + runJson
                                                                   + R"(,"step":2,"output":"x","fence":)"
                                                                   + QByteArray::number(fence + 1000) + "}");
    QVERIFY2(staleCp, qPrintable(s.problem()));
    CHECK_FIELD(*staleCp, "ok", "false");
    for (const QByteArray &step : {QByteArray("10"), QByteArray("2"), QByteArray("0")}) {
        auto cp = s.ok(QStringLiteral("workflow_checkpoint"), R"({"run_id":)" + runJson + R"(,"step":)" + step
                                                                  + R"(,"output":"step )" + step + R"("})");
        QVERIFY2(cp, qPrintable(s.problem()));
        CHECK_FIELD(*cp, "ok", "true");
    }
    // Rewriting a step replaces its output.
    QVERIFY(s.ok(QStringLiteral("workflow_checkpoint"),
                 R"({"run_id":)" + runJson + R"(,"step":2,"output":{"rewritten":true},"agent_id":"A"})"));

    // Resume: step_outputs ascending with keys as strings, last_step the highest step, meta.
    auto resume = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":)" + runJson + "}");
    QVERIFY2(resume, qPrintable(s.problem()));
    CHECK_FIELD(*resume, "run_id", runJson);
    CHECK_FIELD(*resume, "last_step", "10");
    CHECK_FIELD(*resume, "step_outputs",
                R"({"0":"step 0","1":{"s":1},"2":{"rewritten":true},"10":"step 10"})");
    CHECK_FIELD(*resume, "meta.run_id", runJson);
    CHECK_FIELD(*resume, "meta.name", "\"build\"");
    CHECK_FIELD(*resume, "meta.status", "\"running\"");
    CHECK_FIELD(*resume, "meta.tags", R"({"team":"a","env":"prod"})");
    CHECK_FIELD(*resume, "meta.agent_id", "\"A\"");
    CHECK_FIELD(*resume, "meta.last_step", "10");
    CHECK_FIELD(*resume, "meta.input", R"({"z":1,"a":[1.0]})");
    QCOMPARE(resume->integer("meta.fence"), fence);
    if (resume->has("step_meta")) {
        CHECK_FIELD(*resume, "step_meta.1.agent_id", "\"A\"");
        QCOMPARE(resume->integer("step_meta.1.fence"), fence);
        QVERIFY(resume->number("step_meta.1.written_at") > before - 60);
        CHECK_FIELD(*resume, "step_meta.10.agent_id", "null");
    }

    // Complete: only the holder; then the run is finished for everyone.
    auto foreignDone = s.ok(QStringLiteral("workflow_complete"),
                            R"({"run_id":)" + runJson + R"(,"agent_id":"B","status":"done"})");
    QVERIFY2(foreignDone, qPrintable(s.problem()));
    CHECK_FIELD(*foreignDone, "ok", "false");
    QVERIFY(!foreignDone->str("reason").isEmpty());
    auto done = s.ok(QStringLiteral("workflow_complete"),
                     R"({"run_id":)" + runJson
                         + R"(,"agent_id":"A","status":"done","result":{"out":[1,2]},"fence":)"
                         + QByteArray::number(fence) + "}");
    QVERIFY2(done, qPrintable(s.problem()));
    CHECK_FIELD(*done, "ok", "true");
    CHECK_FIELD(*done, "run_id", runJson);
    CHECK_FIELD(*done, "status", "\"done\"");
    auto twice = s.ok(QStringLiteral("workflow_complete"),
                      R"({"run_id":)" + runJson + R"(,"agent_id":"A","status":"failed"})");
    QVERIFY2(twice, qPrintable(s.problem()));
    CHECK_FIELD(*twice, "ok", "false");
    auto lateCp = s.ok(QStringLiteral("workflow_checkpoint"),
                       R"({"run_id":)" + runJson + R"(,"step":11,"output":1})");
    QVERIFY2(lateCp, qPrintable(s.problem()));
    CHECK_FIELD(*lateCp, "ok", "false");
    auto lateClaim = s.ok(QStringLiteral("workflow_claim"),
                          R"({"run_id":)" + runJson + R"(,"agent_id":"C"})");
    QVERIFY2(lateClaim, qPrintable(s.problem()));
    CHECK_FIELD(*lateClaim, "claimed", "false");
    CHECK_FIELD(*lateClaim, "agent_id", "null");
    CHECK_FIELD(*lateClaim, "reason", R"x("Workflow is in status 'done' (agent: A)")x");
    auto lateBeat = s.ok(QStringLiteral("workflow_heartbeat"),
                         R"({"run_id":)" + runJson + R"(,"agent_id":"A"})");
    QVERIFY2(lateBeat, qPrintable(s.problem()));
    CHECK_FIELD(*lateBeat, "ok", "false");

    auto final = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":)" + runJson + "}");
    QVERIFY2(final, qPrintable(s.problem()));
    CHECK_FIELD(*final, "meta.status", "\"done\"");
    CHECK_FIELD(*final, "meta.result", R"({"out":[1,2]})");
    CHECK_FIELD(*final, "last_step", "10");

    // Idempotent create: same key returns the run as it is now; another name is a conflict.
    auto first = s.ok(QStringLiteral("workflow_create"), R"({"name":"job","idempotency_key":"idem-1"})");
    QVERIFY2(first, qPrintable(s.problem()));
    CHECK_FIELD(*first, "created", "true");
    auto repeat = s.ok(QStringLiteral("workflow_create"), R"({"name":"job","idempotency_key":"idem-1"})");
    QVERIFY2(repeat, qPrintable(s.problem()));
    CHECK_FIELD(*repeat, "created", "false");
    QCOMPARE(repeat->str("run_id"), first->str("run_id"));
    QCOMPARE(s.toolError(QStringLiteral("workflow_create"), R"({"name":"other","idempotency_key":"idem-1"})"),
             QStringLiteral("conflict"));

    // workflow_list: every run, newest first, with the meta fields.
    auto list = s.ok(QStringLiteral("workflow_list"), "{}");
    QVERIFY2(list, qPrintable(s.problem()));
    QCOMPARE(list->count("runs"), 2);
    QCOMPARE(list->str("runs.0.run_id"), first->str("run_id"));
    QCOMPARE(list->str("runs.1.run_id"), run);
    CHECK_FIELD(*list, "runs.1.result", R"({"out":[1,2]})");
    CHECK_FIELD(*list, "runs.0.agent_id", "null");
    CHECK_FIELD(*list, "runs.0.tags", "{}");
}

void TestStdioServer::workflowUnknownRun()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    const QByteArray reason = R"("Workflow 'wf-0123456789ab' not found")";
    auto claim = s.ok(QStringLiteral("workflow_claim"), R"({"run_id":"wf-0123456789ab","agent_id":"a"})");
    QVERIFY2(claim, qPrintable(s.problem()));
    CHECK_FIELD(*claim, "claimed", "false");
    CHECK_FIELD(*claim, "run_id", "\"wf-0123456789ab\"");
    CHECK_FIELD(*claim, "agent_id", "null");
    CHECK_FIELD(*claim, "reason", reason);
    auto beat = s.ok(QStringLiteral("workflow_heartbeat"), R"({"run_id":"wf-0123456789ab","agent_id":"a"})");
    QVERIFY2(beat, qPrintable(s.problem()));
    CHECK_FIELD(*beat, "ok", "false");
    CHECK_FIELD(*beat, "reason", reason);
    auto cp = s.ok(QStringLiteral("workflow_checkpoint"),
                   R"({"run_id":"wf-0123456789ab","step":1,"output":1})");
    QVERIFY2(cp, qPrintable(s.problem()));
    CHECK_FIELD(*cp, "ok", "false");
    CHECK_FIELD(*cp, "run_id", "\"wf-0123456789ab\"");
    CHECK_FIELD(*cp, "step", "1");
    CHECK_FIELD(*cp, "reason", reason);
    auto done = s.ok(QStringLiteral("workflow_complete"),
                     R"({"run_id":"wf-0123456789ab","agent_id":"a","status":"done"})");
    QVERIFY2(done, qPrintable(s.problem()));
    CHECK_FIELD(*done, "ok", "false");
    CHECK_FIELD(*done, "reason", reason);
    QCOMPARE(s.toolError(QStringLiteral("workflow_resume"), R"({"run_id":"wf-0123456789ab"})"),
             QStringLiteral("not_found"));
    QCOMPARE(s.toolError(QStringLiteral("workflow_status"), R"({"run_id":"wf-0123456789ab"})"),
             QStringLiteral("not_found"));
    // None of that created anything.
    auto list = s.ok(QStringLiteral("workflow_list"), "{}");
    QVERIFY2(list, qPrintable(s.problem()));
    CHECK_FIELD(*list, "runs", "[]");
}

void TestStdioServer::workflowDiscoverAndClaimNext()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    QStringList runs;
    const QList<QByteArray> specs = {
        R"({"name":"etl","tags":{"q":"1","team":"x"}})",
        R"({"name":"etl","tags":{"q":"2"}})",
        R"({"name":"report","tags":{"q":"1"}})",
        R"({"name":"etl"})",
    };
    for (const QByteArray &spec : specs) {
        auto r = s.ok(QStringLiteral("workflow_create"), spec);
        QVERIFY2(r, qPrintable(s.problem()));
        runs.append(r->str("run_id"));
    }
    auto ids = [](const Reply &r) {
        QStringList out;
        for (const json::Value &run : r.get("runs")->items())
            out.append(run.find("run_id")->toQString());
        return out;
    };
    const QList<QPair<QByteArray, QStringList>> queries = {
        {R"({})", {runs[3], runs[2], runs[1], runs[0]}},
        {R"({"tags":{"q":"1"}})", {runs[2], runs[0]}},
        {R"({"tags":{"q":"1","team":"x"}})", {runs[0]}},
        {R"({"tags":{"q":"3"}})", {}},
        {R"({"name":"etl"})", {runs[3], runs[1], runs[0]}},
        {R"({"status":"created"})", {runs[3], runs[2], runs[1], runs[0]}},
        {R"({"status":"done"})", {}},
        {R"({"tags":{},"status":""})", {runs[3], runs[2], runs[1], runs[0]}},
        {R"({"tags":null,"status":null})", {runs[3], runs[2], runs[1], runs[0]}},
        {R"({"claimable":true})", {runs[3], runs[2], runs[1], runs[0]}},
        {R"({"claimable":false})", {}},
    };
    for (const auto &[query, want] : queries) {
        auto r = s.ok(QStringLiteral("workflow_discover"), query);
        QVERIFY2(r, qPrintable(s.problem()));
        QVERIFY2(ids(*r) == want, QByteArray(query + " -> " + r->text("runs")).constData());
    }
    // Paging newest first.
    auto page = s.ok(QStringLiteral("workflow_discover"), R"({"limit":3})");
    QVERIFY2(page, qPrintable(s.problem()));
    QCOMPARE(ids(*page), (QStringList{runs[3], runs[2], runs[1]}));
    QVERIFY(page->has("next_cursor"));
    auto rest = s.ok(QStringLiteral("workflow_discover"),
                     R"({"limit":3,"cursor":)" + page->text("next_cursor") + "}");
    QVERIFY2(rest, qPrintable(s.problem()));
    QCOMPARE(ids(*rest), QStringList{runs[0]});
    QVERIFY(!rest->has("next_cursor") || rest->text("next_cursor") == "null");

    // claim_next takes the oldest claimable match.
    auto next = s.ok(QStringLiteral("workflow_claim_next"),
                     R"({"agent_id":"w1","tags":{"q":"1"},"ttl_seconds":60})");
    QVERIFY2(next, qPrintable(s.problem()));
    CHECK_FIELD(*next, "claimed", "true");
    QCOMPARE(next->str("run_id"), runs[0]);
    CHECK_FIELD(*next, "agent_id", "\"w1\"");
    CHECK_FIELD(*next, "reason", "null");
    CHECK_FIELD(*next, "attempt", "1");
    QVERIFY(next->integer("fence") > 0);
    auto second = s.ok(QStringLiteral("workflow_claim_next"), R"({"agent_id":"w2","tags":{"q":"1"}})");
    QVERIFY2(second, qPrintable(s.problem()));
    QCOMPARE(second->str("run_id"), runs[2]);
    QVERIFY(second->integer("fence") > next->integer("fence"));
    auto none = s.ok(QStringLiteral("workflow_claim_next"), R"({"agent_id":"w3","tags":{"q":"1"}})");
    QVERIFY2(none, qPrintable(s.problem()));
    CHECK_FIELD(*none, "claimed", "false");
    CHECK_FIELD(*none, "run_id", "null");
    CHECK_FIELD(*none, "agent_id", "null");
    QVERIFY(none->has("reason"));
    auto byName = s.ok(QStringLiteral("workflow_claim_next"), R"({"agent_id":"w3","name":"etl"})");
    QVERIFY2(byName, qPrintable(s.problem()));
    QCOMPARE(byName->str("run_id"), runs[1]);

    auto claimable = s.ok(QStringLiteral("workflow_discover"), R"({"claimable":true})");
    QVERIFY2(claimable, qPrintable(s.problem()));
    QCOMPARE(ids(*claimable), QStringList{runs[3]});
    auto notClaimable = s.ok(QStringLiteral("workflow_discover"), R"({"claimable":false})");
    QVERIFY2(notClaimable, qPrintable(s.problem()));
    QCOMPARE(ids(*notClaimable), (QStringList{runs[2], runs[1], runs[0]}));
    auto claimedOnes = s.ok(QStringLiteral("workflow_discover"), R"({"status":"claimed"})");
    QVERIFY2(claimedOnes, qPrintable(s.problem()));
    QCOMPARE(ids(*claimedOnes), (QStringList{runs[2], runs[1], runs[0]}));
}

void TestStdioServer::workflowClaimLapses()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    auto created = s.ok(QStringLiteral("workflow_create"), R"({"name":"lapse"})");
    QVERIFY2(created, qPrintable(s.problem()));
    const QByteArray run = quoted(created->str("run_id"));
    auto claim = s.ok(QStringLiteral("workflow_claim"),
                      R"({"run_id":)" + run + R"(,"agent_id":"A","ttl_seconds":0.3})");
    QVERIFY2(claim, qPrintable(s.problem()));
    CHECK_FIELD(*claim, "claimed", "true");
    const qint64 fence = claim->integer("fence");
    QVERIFY(
        s.ok(QStringLiteral("workflow_checkpoint"), R"({"run_id":)" + run + R"(,"step":1,"output":"kept"})"));

    // After the lapse anyone may claim: a new grant with a new fence and attempt + 1.
    std::optional<Reply> taken;
    auto retaken = heldOnce([&] {
        taken = s.ok(QStringLiteral("workflow_claim"),
                     R"({"run_id":)" + run + R"(,"agent_id":"B","ttl_seconds":60})");
        return taken && taken->text("claimed") == "true";
    });
    QTRY_VERIFY_WITH_TIMEOUT(retaken(), 15000);
    QVERIFY(taken->integer("fence") > fence);
    CHECK_FIELD(*taken, "attempt", "2");
    // The old holder's fenced writes are refused now.
    auto stale = s.ok(QStringLiteral("workflow_checkpoint"),
                      R"({"run_id":)" + run + R"(,"step":2,"output":"stale","agent_id":"A","fence":)"
                          + QByteArray::number(fence) + "}");
    QVERIFY2(stale, qPrintable(s.problem()));
    CHECK_FIELD(*stale, "ok", "false");
    auto staleDone = s.ok(QStringLiteral("workflow_complete"),
                          R"({"run_id":)" + run + R"(,"agent_id":"A","status":"done"})");
    QVERIFY2(staleDone, qPrintable(s.problem()));
    CHECK_FIELD(*staleDone, "ok", "false");
    auto resume = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":)" + run + "}");
    QVERIFY2(resume, qPrintable(s.problem()));
    CHECK_FIELD(*resume, "step_outputs", R"({"1":"kept"})");
    CHECK_FIELD(*resume, "meta.agent_id", "\"B\"");
    CHECK_FIELD(*resume, "meta.attempt", "2");

    // Before anyone claims again, the old holder's claim is gone too: refused, and its own
    // claim afterwards is a new grant.
    auto other = s.ok(QStringLiteral("workflow_create"), R"({"name":"lapse"})");
    QVERIFY2(other, qPrintable(s.problem()));
    const QByteArray run2 = quoted(other->str("run_id"));
    auto first = s.ok(QStringLiteral("workflow_claim"),
                      R"({"run_id":)" + run2 + R"(,"agent_id":"A","ttl_seconds":0.2})");
    QVERIFY2(first, qPrintable(s.problem()));
    const QByteArray statusArgs = R"({"run_id":)" + run2 + "}";
    auto lapsed = [&] {
        auto status = s.ok(QStringLiteral("workflow_status"), statusArgs);
        return status && status->number("claim_expires_at") < nowSeconds() - 0.05;
    };
    QTRY_VERIFY_WITH_TIMEOUT(lapsed(), 15000);
    auto beat = s.ok(QStringLiteral("workflow_heartbeat"), R"({"run_id":)" + run2 + R"(,"agent_id":"A"})");
    QVERIFY2(beat, qPrintable(s.problem()));
    CHECK_FIELD(*beat, "ok", "false");
    auto cp = s.ok(QStringLiteral("workflow_checkpoint"),
                   R"({"run_id":)" + run2 + R"(,"step":1,"output":1,"agent_id":"A"})");
    QVERIFY2(cp, qPrintable(s.problem()));
    CHECK_FIELD(*cp, "ok", "false");
    auto done = s.ok(QStringLiteral("workflow_complete"),
                     R"({"run_id":)" + run2 + R"(,"agent_id":"A","status":"done"})");
    QVERIFY2(done, qPrintable(s.problem()));
    CHECK_FIELD(*done, "ok", "false");
    auto lapsedStatus = s.ok(QStringLiteral("workflow_status"), statusArgs);
    QVERIFY2(lapsedStatus, qPrintable(s.problem()));
    CHECK_FIELD(*lapsedStatus, "status", "\"claimed\""); // a lapse writes nothing
    auto discover = s.ok(QStringLiteral("workflow_discover"), R"({"claimable":true,"name":"lapse"})");
    QVERIFY2(discover, qPrintable(s.problem()));
    CHECK_FIELD(*discover, "runs.0.run_id", run2);
    auto again = s.ok(QStringLiteral("workflow_claim"),
                      R"({"run_id":)" + run2 + R"(,"agent_id":"A","ttl_seconds":60})");
    QVERIFY2(again, qPrintable(s.problem()));
    CHECK_FIELD(*again, "claimed", "true");
    CHECK_FIELD(*again, "attempt", "2");
    QVERIFY(again->integer("fence") > first->integer("fence"));
}

void TestStdioServer::workflowMaxAttempts()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    auto created = s.ok(QStringLiteral("workflow_create"), R"({"name":"once","max_attempts":1})");
    QVERIFY2(created, qPrintable(s.problem()));
    const QByteArray run = quoted(created->str("run_id"));
    auto claim = s.ok(QStringLiteral("workflow_claim"),
                      R"({"run_id":)" + run + R"(,"agent_id":"A","ttl_seconds":0.2})");
    QVERIFY2(claim, qPrintable(s.problem()));
    CHECK_FIELD(*claim, "claimed", "true");
    // Once the claim lapsed, the next claim would be attempt 2: the run fails instead.
    std::optional<Reply> refused;
    auto failedRun = heldOnce([&] {
        refused = s.ok(QStringLiteral("workflow_claim"), R"({"run_id":)" + run + R"(,"agent_id":"B"})");
        return refused && refused->text("reason") != R"x("Workflow is in status 'claimed' (agent: A)")x";
    });
    QTRY_VERIFY_WITH_TIMEOUT(failedRun(), 15000);
    CHECK_FIELD(*refused, "claimed", "false");
    CHECK_FIELD(*refused, "reason", "\"max attempts reached\"");
    auto status = s.ok(QStringLiteral("workflow_status"), R"({"run_id":)" + run + "}");
    QVERIFY2(status, qPrintable(s.problem()));
    CHECK_FIELD(*status, "status", "\"failed\"");
    auto history = s.ok(QStringLiteral("history_log"), R"({"key":)" + run + R"(,"n":1})");
    QVERIFY2(history, qPrintable(s.problem()));
    CHECK_FIELD(*history, "entries.0.op", "\"complete\"");
    CHECK_FIELD(*history, "entries.0.kind", "\"workflow\"");
    QVERIFY2(history->text("entries.0.new_value").contains("failed"), history->text().constData());

    // claim_next fails an exhausted run and takes the next claimable one.
    auto exhausted = s.ok(QStringLiteral("workflow_create"), R"({"name":"next","max_attempts":1})");
    auto fresh = s.ok(QStringLiteral("workflow_create"), R"({"name":"next"})");
    QVERIFY2(exhausted && fresh, qPrintable(s.problem()));
    auto first = s.ok(QStringLiteral("workflow_claim_next"),
                      R"({"agent_id":"A","name":"next","ttl_seconds":0.2})");
    QVERIFY2(first, qPrintable(s.problem()));
    QCOMPARE(first->str("run_id"), exhausted->str("run_id"));
    const QByteArray exhaustedStatus = R"({"run_id":)" + quoted(exhausted->str("run_id")) + "}";
    auto lapsed = [&] {
        auto current = s.ok(QStringLiteral("workflow_status"), exhaustedStatus);
        return current && current->number("claim_expires_at") < nowSeconds() - 0.05;
    };
    QTRY_VERIFY_WITH_TIMEOUT(lapsed(), 15000);
    auto next = s.ok(QStringLiteral("workflow_claim_next"), R"({"agent_id":"B","name":"next"})");
    QVERIFY2(next, qPrintable(s.problem()));
    CHECK_FIELD(*next, "claimed", "true");
    QCOMPARE(next->str("run_id"), fresh->str("run_id"));
    auto failed = s.ok(QStringLiteral("workflow_status"), exhaustedStatus);
    QVERIFY2(failed, qPrintable(s.problem()));
    CHECK_FIELD(*failed, "status", "\"failed\"");
}

// ---------------------------------------------------------------- group 3: leases

void TestStdioServer::leases()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    const double before = nowSeconds();
    auto a = s.ok(QStringLiteral("lease_acquire"),
                  R"({"resource_id":"db/main","holder_id":"h1","ttl_seconds":60})");
    QVERIFY2(a, qPrintable(s.problem()));
    CHECK_FIELD(*a, "acquired", "true");
    CHECK_FIELD(*a, "resource_id", "\"db/main\"");
    CHECK_FIELD(*a, "holder", "\"h1\"");
    CHECK_FIELD(*a, "reason", "null");
    QVERIFY(qAbs(a->number("expires_at") - (before + 60)) < 30);
    const qint64 fence = a->integer("fence");
    QVERIFY(fence > 0);

    auto refused = s.ok(QStringLiteral("lease_acquire"),
                        R"({"resource_id":"db/main","holder_id":"h2","ttl_seconds":60})");
    QVERIFY2(refused, qPrintable(s.problem()));
    CHECK_FIELD(*refused, "acquired", "false");
    CHECK_FIELD(*refused, "resource_id", "\"db/main\"");
    CHECK_FIELD(*refused, "holder", "\"h1\"");
    CHECK_FIELD(*refused, "expires_at", "null");
    CHECK_FIELD(*refused, "reason", R"("Held by 'h1'")");
    QVERIFY(!refused->has("fence"));

    // The holder acquiring again extends and keeps the fence.
    auto again = s.ok(QStringLiteral("lease_acquire"),
                      R"({"resource_id":"db/main","holder_id":"h1","ttl_seconds":120})");
    QVERIFY2(again, qPrintable(s.problem()));
    CHECK_FIELD(*again, "acquired", "true");
    QCOMPARE(again->integer("fence"), fence);
    QVERIFY(again->number("expires_at") > a->number("expires_at"));

    // Fences grow across resources.
    auto other = s.ok(QStringLiteral("lease_acquire"),
                      R"({"resource_id":"db/replica","holder_id":"h2","ttl_seconds":60})");
    QVERIFY2(other, qPrintable(s.problem()));
    QVERIFY(other->integer("fence") > fence);

    auto renew = s.ok(QStringLiteral("lease_renew"),
                      R"({"resource_id":"db/main","holder_id":"h1","ttl_seconds":300})");
    QVERIFY2(renew, qPrintable(s.problem()));
    CHECK_FIELD(*renew, "renewed", "true");
    CHECK_FIELD(*renew, "resource_id", "\"db/main\"");
    QVERIFY(renew->number("expires_at") > again->number("expires_at"));
    if (renew->has("fence"))
        QCOMPARE(renew->integer("fence"), fence);
    // A shorter TTL shortens (expires_at = now + ttl).
    auto shorter = s.ok(QStringLiteral("lease_renew"),
                        R"({"resource_id":"db/main","holder_id":"h1","ttl_seconds":30,"fence":)"
                            + QByteArray::number(fence) + "}");
    QVERIFY2(shorter, qPrintable(s.problem()));
    CHECK_FIELD(*shorter, "renewed", "true");
    QVERIFY(shorter->number("expires_at") < renew->number("expires_at"));
    auto foreignRenew = s.ok(QStringLiteral("lease_renew"),
                             R"({"resource_id":"db/main","holder_id":"h2","ttl_seconds":60})");
    QVERIFY2(foreignRenew, qPrintable(s.problem()));
    CHECK_FIELD(*foreignRenew, "renewed", "false");
    CHECK_FIELD(*foreignRenew, "expires_at", "null");
    auto wrongFenceRenew = s.ok(QStringLiteral("lease_renew"),
                                R"({"resource_id":"db/main","holder_id":"h1","ttl_seconds":60,"fence":)"
                                    + QByteArray::number(fence + 1000) + "}");
    QVERIFY2(wrongFenceRenew, qPrintable(s.problem()));
    CHECK_FIELD(*wrongFenceRenew, "renewed", "false");

    QVERIFY(s.ok(QStringLiteral("lease_acquire"),
                 R"({"resource_id":"cache","holder_id":"h3","ttl_seconds":60})"));
    auto list = s.ok(QStringLiteral("lease_list"), "{}");
    QVERIFY2(list, qPrintable(s.problem()));
    QCOMPARE(list->count("leases"), 3);
    QSet<QString> listed;
    for (const json::Value &l : list->get("leases")->items()) {
        listed.insert(l.find("resource_id")->toQString());
        QVERIFY(l.find("holder")->isString());
        QVERIFY(l.find("expires_at")->isNumber());
        QVERIFY(l.find("fence")->isNumber());
        if (l.find("resource_id")->text() == "db/main")
            QCOMPARE(l.find("fence")->toInt64().value_or(-1), fence);
    }
    QCOMPARE(listed, (QSet<QString>{QStringLiteral("db/main"), QStringLiteral("db/replica"),
                                    QStringLiteral("cache")}));
    auto prefixed = s.ok(QStringLiteral("lease_list"), R"({"prefix":"db/"})");
    QVERIFY2(prefixed, qPrintable(s.problem()));
    QCOMPARE(prefixed->count("leases"), 2);
    auto paged = s.ok(QStringLiteral("lease_list"), R"({"limit":1})");
    QVERIFY2(paged, qPrintable(s.problem()));
    QCOMPARE(paged->count("leases"), 1);
    QVERIFY(paged->has("next_cursor"));

    // Release: only the holder (and with a fence only that grant), once.
    auto foreignRelease = s.ok(QStringLiteral("lease_release"),
                               R"({"resource_id":"db/main","holder_id":"h2"})");
    QVERIFY2(foreignRelease, qPrintable(s.problem()));
    CHECK_FIELD(*foreignRelease, "released", "false");
    CHECK_FIELD(*foreignRelease, "resource_id", "\"db/main\"");
    auto wrongFence = s.ok(QStringLiteral("lease_release"),
                           R"({"resource_id":"db/main","holder_id":"h1","fence":)"
                               + QByteArray::number(fence + 1000) + "}");
    QVERIFY2(wrongFence, qPrintable(s.problem()));
    CHECK_FIELD(*wrongFence, "released", "false");
    auto release = s.ok(QStringLiteral("lease_release"),
                        R"({"resource_id":"db/main","holder_id":"h1","fence":)" + QByteArray::number(fence)
                            + "}");
    QVERIFY2(release, qPrintable(s.problem()));
    CHECK_FIELD(*release, "released", "true");
    auto twice = s.ok(QStringLiteral("lease_release"), R"({"resource_id":"db/main","holder_id":"h1"})");
    QVERIFY2(twice, qPrintable(s.problem()));
    CHECK_FIELD(*twice, "released", "false");
    // After a release anyone acquires, with a new, greater fence.
    auto next = s.ok(QStringLiteral("lease_acquire"),
                     R"({"resource_id":"db/main","holder_id":"h2","ttl_seconds":60})");
    QVERIFY2(next, qPrintable(s.problem()));
    CHECK_FIELD(*next, "acquired", "true");
    QVERIFY(next->integer("fence") > other->integer("fence"));
}

void TestStdioServer::leaseLapses()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    auto a = s.ok(QStringLiteral("lease_acquire"),
                  R"({"resource_id":"r","holder_id":"h1","ttl_seconds":0.3})");
    QVERIFY2(a, qPrintable(s.problem()));
    CHECK_FIELD(*a, "acquired", "true");
    QVERIFY2(a->number("expires_at") - nowSeconds() < 0.35, "a sub-second TTL must not be rounded up");
    std::optional<Reply> b;
    auto acquired = heldOnce([&] {
        b = s.ok(QStringLiteral("lease_acquire"), R"({"resource_id":"r","holder_id":"h2","ttl_seconds":60})");
        return b && b->text("acquired") == "true";
    });
    QTRY_VERIFY_WITH_TIMEOUT(acquired(), 15000);
    QVERIFY(b->integer("fence") > a->integer("fence"));
    auto renew = s.ok(QStringLiteral("lease_renew"),
                      R"({"resource_id":"r","holder_id":"h1","ttl_seconds":60})");
    QVERIFY2(renew, qPrintable(s.problem()));
    CHECK_FIELD(*renew, "renewed", "false");
    CHECK_FIELD(*renew, "expires_at", "null");
    auto release = s.ok(QStringLiteral("lease_release"), R"({"resource_id":"r","holder_id":"h1"})");
    QVERIFY2(release, qPrintable(s.problem()));
    CHECK_FIELD(*release, "released", "false");

    // A lapsed lease cannot be renewed by its old holder either, and is not listed.
    auto c = s.ok(QStringLiteral("lease_acquire"),
                  R"({"resource_id":"short","holder_id":"h1","ttl_seconds":0.2})");
    QVERIFY2(c, qPrintable(s.problem()));
    const QByteArray shortPrefix = R"({"prefix":"short"})";
    QTRY_COMPARE_WITH_TIMEOUT(s.okText(QStringLiteral("lease_list"), shortPrefix, "leases"), QByteArray("[]"),
                              15000);
    auto lateRenew = s.ok(QStringLiteral("lease_renew"),
                          R"({"resource_id":"short","holder_id":"h1","ttl_seconds":60})");
    QVERIFY2(lateRenew, qPrintable(s.problem()));
    CHECK_FIELD(*lateRenew, "renewed", "false");
    auto regrant = s.ok(QStringLiteral("lease_acquire"),
                        R"({"resource_id":"short","holder_id":"h1","ttl_seconds":60})");
    QVERIFY2(regrant, qPrintable(s.problem()));
    CHECK_FIELD(*regrant, "acquired", "true");
    QVERIFY2(regrant->integer("fence") > c->integer("fence"), "after a lapse, acquiring is a new grant");
}

// ---------------------------------------------------------------- group 4: sessions and history

void TestStdioServer::sessions()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    auto saved = s.ok(QStringLiteral("session_save"),
                      R"({"session_id":"chat-1","context":{"b":[1,2],"a":"x"},"agent_id":"a1"})");
    QVERIFY2(saved, qPrintable(s.problem()));
    CHECK_FIELD(*saved, "ok", "true");
    CHECK_FIELD(*saved, "session_id", "\"chat-1\"");
    QVERIFY(saved->integer("revision") > 0);
    QVERIFY(qAbs(saved->number("updated_at") - nowSeconds()) < 60);

    auto restored = s.ok(QStringLiteral("session_restore"), R"({"session_id":"chat-1"})");
    QVERIFY2(restored, qPrintable(s.problem()));
    CHECK_FIELD(*restored, "found", "true");
    CHECK_FIELD(*restored, "session_id", "\"chat-1\"");
    CHECK_FIELD(*restored, "context", R"({"b":[1,2],"a":"x"})");
    const double savedAt = restored->number("saved_at");
    QVERIFY(savedAt > 0);

    // Saving again replaces the whole context and keeps the first saved_at.
    auto resaved = s.ok(QStringLiteral("session_save"), R"({"session_id":"chat-1","context":{"only":true}})");
    QVERIFY2(resaved, qPrintable(s.problem()));
    QVERIFY(resaved->integer("revision") > saved->integer("revision"));
    restored = s.ok(QStringLiteral("session_restore"), R"({"session_id":"chat-1"})");
    QVERIFY2(restored, qPrintable(s.problem()));
    CHECK_FIELD(*restored, "context", R"({"only":true})");
    QCOMPARE(restored->number("saved_at"), savedAt);
    QVERIFY(restored->number("updated_at") >= savedAt);
    QVERIFY(restored->number("updated_at") >= resaved->number("updated_at") - 0.001);

    auto missing = s.ok(QStringLiteral("session_restore"), R"({"session_id":"nope"})");
    QVERIFY2(missing, qPrintable(s.problem()));
    CHECK_FIELD(*missing, "found", "false");
    CHECK_FIELD(*missing, "session_id", "\"nope\"");
    CHECK_FIELD(*missing, "context", "null");

    QVERIFY(s.ok(QStringLiteral("session_save"), R"({"session_id":"chat-2","context":{}})"));
    QVERIFY(s.ok(QStringLiteral("session_save"), R"({"session_id":"job-1","context":{}})"));
    auto list = s.ok(QStringLiteral("session_list"), "{}");
    QVERIFY2(list, qPrintable(s.problem()));
    QCOMPARE(list->count("sessions"), 3);
    CHECK_FIELD(*list, "sessions.0.session_id", "\"chat-1\"");
    QCOMPARE(list->number("sessions.0.saved_at"), savedAt);
    QVERIFY(list->has("sessions.0.updated_at"));
    auto prefixed = s.ok(QStringLiteral("session_list"), R"({"prefix":"chat-"})");
    QVERIFY2(prefixed, qPrintable(s.problem()));
    QCOMPARE(prefixed->count("sessions"), 2);

    auto del = s.ok(QStringLiteral("session_delete"), R"({"session_id":"chat-1"})");
    QVERIFY2(del, qPrintable(s.problem()));
    CHECK_FIELD(*del, "ok", "true");
    auto delAgain = s.ok(QStringLiteral("session_delete"), R"({"session_id":"chat-1"})");
    QVERIFY2(delAgain, qPrintable(s.problem()));
    CHECK_FIELD(*delAgain, "ok", "false");
    auto after = s.ok(QStringLiteral("session_restore"), R"({"session_id":"chat-1"})");
    QVERIFY2(after, qPrintable(s.problem()));
    CHECK_FIELD(*after, "found", "false");

    // The delete is in history with the deleted context.
    auto history = s.ok(QStringLiteral("history_log"), R"({"key":"chat-1","kind":"session"})");
    QVERIFY2(history, qPrintable(s.problem()));
    CHECK_FIELD(*history, "entries.0.op", "\"delete\"");
    CHECK_FIELD(*history, "entries.0.previous_value", R"({"only":true})");
    CHECK_FIELD(*history, "entries.1.op", "\"save\"");
    CHECK_FIELD(*history, "entries.1.new_value", R"({"only":true})");
    CHECK_FIELD(*history, "entries.2.agent_id", "\"a1\"");
}

void TestStdioServer::historyLog()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    auto w1 = s.ok(QStringLiteral("state_set"), R"({"key":"h/k","value":{"v":1},"agent_id":"writer"})");
    auto w2 = s.ok(QStringLiteral("state_set"), R"({"key":"h/k","value":{"v":2}})");
    auto w3 = s.ok(QStringLiteral("state_delete"), R"({"key":"h/k","agent_id":"deleter"})");
    QVERIFY2(w1 && w2 && w3, qPrintable(s.problem()));
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"h/other","value":0})"));
    QVERIFY(s.ok(QStringLiteral("lease_acquire"),
                 R"({"resource_id":"h/lease","holder_id":"x","ttl_seconds":60})"));
    QVERIFY(s.ok(QStringLiteral("workflow_create"), R"({"name":"h"})"));

    auto log = s.ok(QStringLiteral("history_log"), R"({"key":"h/k"})");
    QVERIFY2(log, qPrintable(s.problem()));
    CHECK_FIELD(*log, "total", "3");
    QCOMPARE(log->count("entries"), 3);
    // Newest first, every field present.
    CHECK_FIELD(*log, "entries.0.op", "\"delete\"");
    CHECK_FIELD(*log, "entries.0.kind", "\"kv\"");
    CHECK_FIELD(*log, "entries.0.key", "\"h/k\"");
    CHECK_FIELD(*log, "entries.0.new_value", "null");
    CHECK_FIELD(*log, "entries.0.previous_value", R"({"v":2})");
    CHECK_FIELD(*log, "entries.0.agent_id", "\"deleter\"");
    QCOMPARE(log->integer("entries.0.revision"), w3->integer("revision"));
    CHECK_FIELD(*log, "entries.1.op", "\"set\"");
    CHECK_FIELD(*log, "entries.1.new_value", R"({"v":2})");
    CHECK_FIELD(*log, "entries.1.previous_value", R"({"v":1})");
    CHECK_FIELD(*log, "entries.1.agent_id", "null");
    QCOMPARE(log->integer("entries.1.revision"), w2->integer("revision"));
    CHECK_FIELD(*log, "entries.2.new_value", R"({"v":1})");
    CHECK_FIELD(*log, "entries.2.previous_value", "null");
    CHECK_FIELD(*log, "entries.2.agent_id", "\"writer\"");
    for (int i = 0; i < 3; ++i) {
        const std::string p = "entries." + std::to_string(i) + ".";
        QVERIFY(log->get(p + "id") && log->get(p + "id")->isNumber());
        QVERIFY(qAbs(log->number(p + "written_at") - nowSeconds()) < 60);
    }
    QVERIFY(log->integer("entries.0.revision") > log->integer("entries.1.revision"));
    QVERIFY(!log->has("more") || log->text("more") == "false");

    // n and more, then before_revision to page back.
    auto two = s.ok(QStringLiteral("history_log"), R"({"key":"h/k","n":2})");
    QVERIFY2(two, qPrintable(s.problem()));
    CHECK_FIELD(*two, "total", "2");
    CHECK_FIELD(*two, "more", "true");
    auto older = s.ok(QStringLiteral("history_log"),
                      R"({"key":"h/k","n":2,"before_revision":)" + two->text("entries.1.revision") + "}");
    QVERIFY2(older, qPrintable(s.problem()));
    CHECK_FIELD(*older, "total", "1");
    QCOMPARE(older->integer("entries.0.revision"), w1->integer("revision"));

    // Filters by kind and prefix.
    auto leases = s.ok(QStringLiteral("history_log"), R"({"kind":"lease"})");
    QVERIFY2(leases, qPrintable(s.problem()));
    CHECK_FIELD(*leases, "total", "1");
    CHECK_FIELD(*leases, "entries.0.op", "\"acquire\"");
    CHECK_FIELD(*leases, "entries.0.key", "\"h/lease\"");
    auto workflows = s.ok(QStringLiteral("history_log"), R"({"kind":"workflow"})");
    QVERIFY2(workflows, qPrintable(s.problem()));
    CHECK_FIELD(*workflows, "entries.0.op", "\"create\"");
    auto prefixed = s.ok(QStringLiteral("history_log"), R"({"prefix":"h/","kind":"kv","n":1000})");
    QVERIFY2(prefixed, qPrintable(s.problem()));
    CHECK_FIELD(*prefixed, "total", "4");
    auto all = s.ok(QStringLiteral("history_log"), R"({"n":1000})");
    QVERIFY2(all, qPrintable(s.problem()));
    CHECK_FIELD(*all, "total", "6");
    auto deflt = s.ok(QStringLiteral("history_log"), "{}");
    QVERIFY2(deflt, qPrintable(s.problem()));
    CHECK_FIELD(*deflt, "total", "6");
}

void TestStdioServer::health()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"a","value":1})"));
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"b","value":1})"));
    QVERIFY(s.ok(QStringLiteral("workflow_create"), R"({"name":"w"})"));
    QVERIFY(s.ok(QStringLiteral("lease_acquire"), R"({"resource_id":"r","holder_id":"h","ttl_seconds":60})"));
    auto last = s.ok(QStringLiteral("session_save"), R"({"session_id":"s","context":{}})");
    QVERIFY2(last, qPrintable(s.problem()));
    auto h = s.ok(QStringLiteral("sidecar_health"), "{}");
    QVERIFY2(h, qPrintable(s.problem()));
    CHECK_FIELD(*h, "status", "\"ok\"");
    CHECK_FIELD(*h, "backend", "\"sqlite\"");
    QVERIFY(h->number("uptime_s") >= 0);
    CHECK_FIELD(*h, "key_count", "2");
    CHECK_FIELD(*h, "workflow_count", "1");
    CHECK_FIELD(*h, "lease_count", "1");
    CHECK_FIELD(*h, "session_count", "1");
    QCOMPARE(h->integer("revision"), last->integer("revision"));
    const CliRun version = runCli({QStringLiteral("--version")});
    QVERIFY2(version.out.contains(h->str("version")), qPrintable(version.out + h->str("version")));
    // null arguments are "no arguments"
    QVERIFY2(s.ok(QStringLiteral("sidecar_health"), "null"), qPrintable(s.problem()));
}

void TestStdioServer::resetForbiddenByDefault()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"keep","value":1})"));
    QCOMPARE(s.toolError(QStringLiteral("sidecar_reset"), R"({"confirm":"RESET"})"),
             QStringLiteral("forbidden"));
    QCOMPARE(s.toolError(QStringLiteral("sidecar_reset"), "{}"), QStringLiteral("forbidden"));
    auto kept = s.ok(QStringLiteral("state_get"), R"({"key":"keep"})");
    QVERIFY2(kept, qPrintable(s.problem()));
    CHECK_FIELD(*kept, "found", "true");
}

void TestStdioServer::resetWhenAllowed()
{
    SidecarClient s;
    QVERIFY2(s.start({QStringLiteral("--allow-reset")}), qPrintable(s.problem()));
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"a","value":1})"));
    QVERIFY(s.ok(QStringLiteral("workflow_create"), R"({"name":"w"})"));
    QVERIFY(s.ok(QStringLiteral("lease_acquire"), R"({"resource_id":"r","holder_id":"h","ttl_seconds":60})"));
    auto last = s.ok(QStringLiteral("session_save"), R"({"session_id":"s","context":{}})");
    QVERIFY2(last, qPrintable(s.problem()));

    QCOMPARE(s.toolError(QStringLiteral("sidecar_reset"), "{}"), QStringLiteral("invalid_argument"));
    QCOMPARE(s.toolError(QStringLiteral("sidecar_reset"), R"({"confirm":"reset"})"),
             QStringLiteral("invalid_argument"));
    QCOMPARE(s.toolError(QStringLiteral("sidecar_reset"), R"({"confirm":null})"),
             QStringLiteral("invalid_argument"));
    auto still = s.ok(QStringLiteral("state_get"), R"({"key":"a"})");
    QVERIFY2(still, qPrintable(s.problem()));
    CHECK_FIELD(*still, "found", "true");

    auto reset = s.ok(QStringLiteral("sidecar_reset"), R"({"confirm":"RESET"})");
    QVERIFY2(reset, qPrintable(s.problem()));
    CHECK_FIELD(*reset, "ok", "true");
    QVERIFY(reset->integer("cleared") >= 4);

    auto h = s.ok(QStringLiteral("sidecar_health"), "{}");
    QVERIFY2(h, qPrintable(s.problem()));
    CHECK_FIELD(*h, "key_count", "0");
    CHECK_FIELD(*h, "workflow_count", "0");
    CHECK_FIELD(*h, "lease_count", "0");
    CHECK_FIELD(*h, "session_count", "0");
    QVERIFY(h->integer("revision") > last->integer("revision"));
    auto keys = s.ok(QStringLiteral("state_list"), "{}");
    QVERIFY2(keys, qPrintable(s.problem()));
    CHECK_FIELD(*keys, "keys", "[]");
    auto history = s.ok(QStringLiteral("history_log"), R"({"n":1000})");
    QVERIFY2(history, qPrintable(s.problem()));
    CHECK_FIELD(*history, "total", "1");
    CHECK_FIELD(*history, "entries.0.op", "\"reset\"");
    CHECK_FIELD(*history, "entries.0.kind", "\"store\"");
    QVERIFY(history->integer("entries.0.revision") > last->integer("revision"));

    // The revision keeps counting up; the lease is free again with a greater fence.
    auto after = s.ok(QStringLiteral("state_set"), R"({"key":"a","value":2})");
    QVERIFY2(after, qPrintable(s.problem()));
    QVERIFY(after->integer("revision") > history->integer("entries.0.revision"));
    auto lease = s.ok(QStringLiteral("lease_acquire"),
                      R"({"resource_id":"r","holder_id":"other","ttl_seconds":60})");
    QVERIFY2(lease, qPrintable(s.problem()));
    CHECK_FIELD(*lease, "acquired", "true");
    QVERIFY(lease->integer("fence") > after->integer("revision"));
}

void TestStdioServer::perToolArgumentRules_data()
{
    QTest::addColumn<QString>("tool");
    for (const QString &tool : kContractTools)
        QTest::newRow(qPrintable(tool)) << tool;
}

void TestStdioServer::perToolArgumentRules()
{
    // For every tool, from its own inputSchema: the required arguments with valid values work,
    // every optional argument given as null too (compatibility); an unknown property, or a
    // required argument left out, is invalid_argument.
    QFETCH(QString, tool);
    SidecarClient &s = m_shared;
    auto run = s.ok(QStringLiteral("workflow_create"), R"({"name":"args"})");
    QVERIFY2(run, qPrintable(s.problem()));
    const QMap<std::string, QByteArray> samples = {
        {"key", "\"args-key\""},
        {"value", "{\"v\":1}"},
        {"run_id", quoted(run->str("run_id"))},
        {"agent_id", "\"agent\""},
        {"step", "1"},
        {"output", "[1]"},
        {"status", "\"done\""},
        {"name", "\"args\""},
        {"resource_id", "\"args-res\""},
        {"holder_id", "\"holder\""},
        {"ttl_seconds", "60"},
        {"session_id", "\"args-session\""},
        {"context", "{\"c\":1}"},
        {"confirm", "\"RESET\""},
        {"since_revision", "0"},
    };
    const json::Value *schema = nullptr;
    for (const json::Value &t : s.toolsList().root().find("result")->find("tools")->items()) {
        if (t.find("name")->toQString() == tool)
            schema = t.find("inputSchema");
    }
    QVERIFY2(schema, "not in tools/list");
    std::vector<std::string> required;
    if (const json::Value *req = schema->find("required"))
        for (const json::Value &r : req->items())
            required.push_back(r.text());
    QByteArray minimal = "{";
    for (const std::string &name : required) {
        QVERIFY2(samples.contains(name), ("no sample value for required argument " + name).c_str());
        minimal += (minimal.size() > 1 ? "," : "") + quoted(QString::fromStdString(name)) + ':'
                   + samples.value(name);
    }
    QByteArray withNulls = minimal;
    for (const json::Member &prop : schema->find("properties")->members()) {
        if (std::find(required.begin(), required.end(), prop.key) == required.end())
            withNulls += (withNulls.size() > 1 ? "," : "") + quoted(QString::fromStdString(prop.key))
                         + ":null";
    }
    minimal += '}';
    withNulls += '}';

    if (tool == QLatin1String("sidecar_reset")) { // forbidden on this server whatever the arguments
        QCOMPARE(s.toolError(tool, minimal), QStringLiteral("forbidden"));
        QCOMPARE(s.toolError(tool, withNulls), QStringLiteral("forbidden"));
    } else {
        QVERIFY2(s.ok(tool, minimal), qPrintable(s.problem()));
        QVERIFY2(s.ok(tool, withNulls), qPrintable(s.problem()));
    }
    QByteArray unknown = minimal;
    unknown.insert(1, QByteArray(R"("no_such_argument":1)") + (minimal.size() > 2 ? "," : ""));
    QCOMPARE(s.toolError(tool, unknown), QStringLiteral("invalid_argument"));
    for (const std::string &name : required) {
        QByteArray missing = "{";
        for (const std::string &other : required) {
            if (other != name)
                missing += (missing.size() > 1 ? "," : "") + quoted(QString::fromStdString(other)) + ':'
                           + samples.value(other);
        }
        missing += '}';
        QVERIFY2(s.toolError(tool, missing) == QLatin1String("invalid_argument"),
                 ("without " + name).c_str());
    }
    QVERIFY(s.alive());
}

void TestStdioServer::compatibilityArguments_data()
{
    // Calls an agent written against the original package makes: explicit nulls for optional
    // arguments and integers as numeric strings. Each must succeed; `check` is a field and its
    // expected compact text in the result.
    QTest::addColumn<QString>("tool");
    QTest::addColumn<QByteArray>("args");
    QTest::addColumn<QByteArray>("checkPath");
    QTest::addColumn<QByteArray>("checkValue");

    QTest::newRow("state_set ttl null, agent null")
        << QStringLiteral("state_set")
        << QByteArray(R"({"key":"n1","value":1,"ttl_seconds":null,"agent_id":null})") << QByteArray("ok")
        << QByteArray("true");
    QTest::newRow("state_set every optional null")
        << QStringLiteral("state_set")
        << QByteArray(
               R"({"key":"n2","value":1,"ttl_seconds":null,"agent_id":null,"if_version":null,"require_lease":null})")
        << QByteArray("ok") << QByteArray("true");
    QTest::newRow("state_set ttl as a string")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"n3","value":1,"ttl_seconds":"5"})")
        << QByteArray("ok") << QByteArray("true");
    QTest::newRow("state_set if_version as a string")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"n4","value":1,"if_version":"0"})")
        << QByteArray("ok") << QByteArray("true");
    QTest::newRow("state_set value null is a value")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"n5","value":null})") << QByteArray("ok")
        << QByteArray("true");
    QTest::newRow("state_get") << QStringLiteral("state_get") << QByteArray(R"({"key":"seeded"})")
                               << QByteArray("found") << QByteArray("true");
    QTest::newRow("state_delete agent null")
        << QStringLiteral("state_delete")
        << QByteArray(R"({"key":"seeded","agent_id":null,"if_version":null})") << QByteArray("ok")
        << QByteArray("true");
    QTest::newRow("state_list prefix null")
        << QStringLiteral("state_list") << QByteArray(R"({"prefix":null})") << QByteArray("keys")
        << QByteArray(R"(["seeded"])");
    QTest::newRow("state_list limit as a string")
        << QStringLiteral("state_list")
        << QByteArray(R"({"prefix":null,"delimiter":null,"limit":"5","cursor":null})") << QByteArray("keys")
        << QByteArray(R"(["seeded"])");
    QTest::newRow("workflow_create tags null")
        << QStringLiteral("workflow_create") << QByteArray(R"({"name":"w","tags":null,"input":null})")
        << QByteArray("status") << QByteArray("\"created\"");
    QTest::newRow("workflow_discover nulls")
        << QStringLiteral("workflow_discover") << QByteArray(R"({"tags":null,"status":null})")
        << QByteArray("runs.0.run_id") << QByteArray("$RUN");
    QTest::newRow("workflow_claim ttl as a string")
        << QStringLiteral("workflow_claim")
        << QByteArray(R"({"run_id":$RUN,"agent_id":"a","ttl_seconds":"30"})") << QByteArray("claimed")
        << QByteArray("true");
    QTest::newRow("workflow_checkpoint step as a string")
        << QStringLiteral("workflow_checkpoint") << QByteArray(R"({"run_id":$RUN,"step":"3","output":"o"})")
        << QByteArray("step") << QByteArray("3");
    QTest::newRow("workflow_checkpoint optional nulls")
        << QStringLiteral("workflow_checkpoint")
        << QByteArray(R"({"run_id":$RUN,"step":1,"output":"o","agent_id":null,"fence":null})")
        << QByteArray("ok") << QByteArray("true");
    QTest::newRow("workflow_list nulls")
        << QStringLiteral("workflow_list") << QByteArray(R"({"limit":null,"cursor":null})")
        << QByteArray("runs.0.run_id") << QByteArray("$RUN");
    QTest::newRow("lease_acquire ttl as a string")
        << QStringLiteral("lease_acquire")
        << QByteArray(R"({"resource_id":"r","holder_id":"h","ttl_seconds":"30"})") << QByteArray("acquired")
        << QByteArray("true");
    QTest::newRow("lease_renew ttl as a string")
        << QStringLiteral("lease_renew")
        << QByteArray(R"({"resource_id":"held","holder_id":"h","ttl_seconds":"30","fence":null})")
        << QByteArray("renewed") << QByteArray("true");
    QTest::newRow("lease_release fence null")
        << QStringLiteral("lease_release")
        << QByteArray(R"({"resource_id":"held","holder_id":"h","fence":null})") << QByteArray("released")
        << QByteArray("true");
    QTest::newRow("session_save agent null")
        << QStringLiteral("session_save")
        << QByteArray(R"({"session_id":"s","context":{"a":1},"agent_id":null})") << QByteArray("ok")
        << QByteArray("true");
    QTest::newRow("history_log key null, n string")
        << QStringLiteral("history_log") << QByteArray(R"({"key":null,"n":"1"})") << QByteArray("total")
        << QByteArray("1");
    QTest::newRow("history_log every filter null")
        << QStringLiteral("history_log")
        << QByteArray(R"({"key":null,"prefix":null,"kind":null,"n":null,"before_revision":null})")
        << QByteArray("entries.0.key") << QByteArray("\"held\"");
}

void TestStdioServer::compatibilityArguments()
{
    QFETCH(QString, tool);
    QFETCH(QByteArray, args);
    QFETCH(QByteArray, checkPath);
    QFETCH(QByteArray, checkValue);
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"seeded","value":"x"})"));
    auto run = s.ok(QStringLiteral("workflow_create"), R"({"name":"w"})");
    QVERIFY2(run, qPrintable(s.problem()));
    QVERIFY(
        s.ok(QStringLiteral("lease_acquire"), R"({"resource_id":"held","holder_id":"h","ttl_seconds":60})"));
    const QByteArray runJson = quoted(run->str("run_id"));
    args.replace("$RUN", runJson);
    checkValue.replace("$RUN", runJson);

    auto r = s.ok(tool, args);
    QVERIFY2(r, qPrintable(s.problem()));
    QCOMPARE(r->text(std::string_view(checkPath.constData(), std::size_t(checkPath.size()))), checkValue);
}

void TestStdioServer::idLimits_data()
{
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<bool>("accepted");
    QTest::newRow("512 ASCII bytes") << quoted(QString(512, u'k')) << true;
    QTest::newRow("513 ASCII bytes") << quoted(QString(513, u'k')) << false;
    QTest::newRow("256 two-byte characters (512 bytes)") << quoted(QString(256, QChar(0xe9))) << true;
    QTest::newRow("257 two-byte characters (514 bytes)") << quoted(QString(257, QChar(0xe9))) << false;
    QTest::newRow("171 three-byte characters (513 bytes)") << quoted(QString(171, QChar(0x20ac))) << false;
    QTest::newRow("empty") << QByteArray("\"\"") << false;
    QTest::newRow("NUL inside") << QByteArray(R"("a\u0000b")") << false;
    QTest::newRow("one space") << QByteArray("\" \"") << true;
    QTest::newRow("emoji") << QByteArray(R"("\ud83d\ude00")") << true;
}

void TestStdioServer::idLimits()
{
    QFETCH(QByteArray, key);
    QFETCH(bool, accepted);
    SidecarClient &s = m_shared;
    const QList<QPair<QString, QByteArray>> calls = {
        {QStringLiteral("state_set"), R"({"key":)" + key + R"(,"value":1})"},
        {QStringLiteral("state_get"), R"({"key":)" + key + "}"},
        {QStringLiteral("lease_acquire"),
         R"({"resource_id":)" + key + R"(,"holder_id":"h","ttl_seconds":60})"},
        {QStringLiteral("lease_acquire"),
         R"({"resource_id":"idlimits","holder_id":)" + key + R"(,"ttl_seconds":60})"},
        {QStringLiteral("session_save"), R"({"session_id":)" + key + R"(,"context":{}})"},
        {QStringLiteral("workflow_claim_next"), R"({"agent_id":)" + key + R"(,"name":"no-such-run"})"},
        {QStringLiteral("workflow_create"), R"({"name":"n","idempotency_key":)" + key + "}"},
    };
    for (const auto &[tool, args] : calls) {
        if (accepted) {
            QVERIFY2(s.ok(tool, args), qPrintable(s.problem()));
        } else {
            const QString code = s.toolError(tool, args);
            QVERIFY2(code == QLatin1String("invalid_argument"),
                     qPrintable(tool + QStringLiteral(": ") + code));
        }
    }
    if (accepted) {
        auto got = s.ok(QStringLiteral("state_get"), R"({"key":)" + key + "}");
        QVERIFY2(got, qPrintable(s.problem()));
        CHECK_FIELD(*got, "found", "true");
        QCOMPARE(got->get("key")->toQString(), json::parse(key)->root().toQString());
    }
    QVERIFY(s.alive());
}

void TestStdioServer::valuesRoundTrip_data()
{
    QTest::addColumn<QByteArray>("sent");
    QTest::addColumn<QByteArray>("expected"); // the compact form

    QTest::newRow("order, precision, -0.0, big, escapes")
        << QByteArray(R"({"b":1,"a":[1.0,-0.0,12345678901234567890123,1e400,"\u00e9"]})")
        << QByteArray(R"({"b":1,"a":[1.0,-0.0,12345678901234567890123,1e400,"\u00e9"]})");
    QTest::newRow("whitespace removed") << QByteArray("{ \"z\" : [ 1 , 2.50 ,\r\t{ } ] , \"a\" : \"x y\" }")
                                        << QByteArray(R"({"z":[1,2.50,{}],"a":"x y"})");
    QTest::newRow("2^63 and beyond")
        << QByteArray("[9223372036854775807,9223372036854775808,-9223372036854775809]")
        << QByteArray("[9223372036854775807,9223372036854775808,-9223372036854775809]");
    QTest::newRow("decimals keep their text")
        << QByteArray("[0.1,0.10,1E5,1e-7,-1.5E+300,3.141592653589793238462643]")
        << QByteArray("[0.1,0.10,1E5,1e-7,-1.5E+300,3.141592653589793238462643]");
    QTest::newRow("raw UTF-8") << QByteArray("\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"")
                               << QByteArray("\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"");
    QTest::newRow("escapes kept") << QByteArray(R"("a\"b\\c\/d\n\t\u0001\ud83d\ude00")")
                                  << QByteArray(R"("a\"b\\c\/d\n\t\u0001\ud83d\ude00")");
    QTest::newRow("string with spaces")
        << QByteArray(R"(" spaced  out ")") << QByteArray(R"(" spaced  out ")");
    QTest::newRow("keys that look alike") << QByteArray(R"({"a":1,"A":2,"a ":3,"\u0061b":4})")
                                          << QByteArray(R"({"a":1,"A":2,"a ":3,"\u0061b":4})");
    QTest::newRow("nested 100 deep") << QByteArray(100, '[') + QByteArray(100, ']')
                                     << QByteArray(100, '[') + QByteArray(100, ']');
    QTest::newRow("empty containers") << QByteArray("[{},[],\"\",0]") << QByteArray("[{},[],\"\",0]");
    QTest::newRow("true") << QByteArray("true") << QByteArray("true");
    QTest::newRow("null") << QByteArray("null") << QByteArray("null");
    QTest::newRow("negative zero") << QByteArray("-0") << QByteArray("-0");
    QTest::newRow("numeric string stays a string") << QByteArray(R"("5")") << QByteArray(R"("5")");
    QTest::newRow("numeric strings inside")
        << QByteArray(R"({"n":"-1.5e3","m":["7"]})") << QByteArray(R"({"n":"-1.5e3","m":["7"]})");
    QTest::newRow("NUL escape in a value") << QByteArray(R"("a\u0000b")") << QByteArray(R"("a\u0000b")");
}

void TestStdioServer::valuesRoundTrip()
{
    QFETCH(QByteArray, sent);
    QFETCH(QByteArray, expected);
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));

    // state_set / state_get, and history's new_value
    QVERIFY2(s.ok(QStringLiteral("state_set"), R"({"key":"v","value":)" + sent + "}"),
             qPrintable(s.problem()));
    auto got = s.ok(QStringLiteral("state_get"), R"({"key":"v"})");
    QVERIFY2(got, qPrintable(s.problem()));
    CHECK_FIELD(*got, "value", expected);
    auto history = s.ok(QStringLiteral("history_log"), R"({"key":"v","n":1})");
    QVERIFY2(history, qPrintable(s.problem()));
    CHECK_FIELD(*history, "entries.0.new_value", expected);

    // workflow input, checkpoint output, result
    auto created = s.ok(QStringLiteral("workflow_create"), R"({"name":"v","input":)" + sent + "}");
    QVERIFY2(created, qPrintable(s.problem()));
    const QByteArray run = quoted(created->str("run_id"));
    QVERIFY2(s.ok(QStringLiteral("workflow_claim"), R"({"run_id":)" + run + R"(,"agent_id":"a"})"),
             qPrintable(s.problem()));
    auto cp = s.ok(QStringLiteral("workflow_checkpoint"),
                   R"({"run_id":)" + run + R"(,"step":7,"output":)" + sent + "}");
    QVERIFY2(cp, qPrintable(s.problem()));
    CHECK_FIELD(*cp, "ok", "true");
    // An optional argument given as null is "not given" (compatibility): input and result are absent then.
    const QByteArray optional = sent == "null" ? QByteArray("<absent>") : expected;
    auto resume = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":)" + run + "}");
    QVERIFY2(resume, qPrintable(s.problem()));
    CHECK_FIELD(*resume, "meta.input", optional);
    CHECK_FIELD(*resume, "step_outputs.7", expected);
    auto done = s.ok(QStringLiteral("workflow_complete"),
                     R"({"run_id":)" + run + R"(,"agent_id":"a","status":"done","result":)" + sent + "}");
    QVERIFY2(done, qPrintable(s.problem()));
    CHECK_FIELD(*done, "ok", "true");
    auto list = s.ok(QStringLiteral("workflow_list"), "{}");
    QVERIFY2(list, qPrintable(s.problem()));
    CHECK_FIELD(*list, "runs.0.result", optional);
    CHECK_FIELD(*list, "runs.0.input", optional);

    // session context (an object)
    QVERIFY2(s.ok(QStringLiteral("session_save"), R"({"session_id":"v","context":{"v":)" + sent + "}}"),
             qPrintable(s.problem()));
    auto restored = s.ok(QStringLiteral("session_restore"), R"({"session_id":"v"})");
    QVERIFY2(restored, qPrintable(s.problem()));
    CHECK_FIELD(*restored, "context", R"({"v":)" + expected + "}");
}

void TestStdioServer::ttlExpiry()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    const double before = nowSeconds();
    auto set = s.ok(QStringLiteral("state_set"), R"({"key":"short","value":"soon gone","ttl_seconds":0.3})");
    const double after = nowSeconds();
    QVERIFY2(set, qPrintable(s.problem()));
    CHECK_FIELD(*set, "ok", "true");
    // expires_at = now + 0.3, not rounded to whole seconds either way.
    QVERIFY2(set->number("expires_at") >= before + 0.29 && set->number("expires_at") <= after + 0.31,
             set->text().constData());
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"long","value":1,"ttl_seconds":600})"));

    const QByteArray shortKey = R"({"key":"short"})";
    QTRY_COMPARE_WITH_TIMEOUT(s.okText(QStringLiteral("state_get"), shortKey, "found"), QByteArray("false"),
                              10000);
    auto gone = s.ok(QStringLiteral("state_get"), R"({"key":"short"})");
    QVERIFY2(gone, qPrintable(s.problem()));
    CHECK_FIELD(*gone, "value", "null");
    auto list = s.ok(QStringLiteral("state_list"), "{}");
    QVERIFY2(list, qPrintable(s.problem()));
    CHECK_FIELD(*list, "keys", R"(["long"])");
    auto del = s.ok(QStringLiteral("state_delete"), R"({"key":"short"})");
    QVERIFY2(del, qPrintable(s.problem()));
    // The sweep writes one expire entry (unless the delete above raced it; then the key was gone already).
    const QByteArray historyArgs = R"({"key":"short","n":10})";
    const QByteArray expireOp = "\"expire\"";
    QTRY_VERIFY_WITH_TIMEOUT(s.okText(QStringLiteral("history_log"), historyArgs).contains(expireOp), 10000);
    auto history = s.ok(QStringLiteral("history_log"), R"({"key":"short","n":10})");
    QVERIFY2(history, qPrintable(s.problem()));
    CHECK_FIELD(*history, "total", "2");
    CHECK_FIELD(*history, "entries.0.op", "\"expire\"");
    CHECK_FIELD(*history, "entries.0.kind", "\"kv\"");
    CHECK_FIELD(*del, "ok", "false");
    QVERIFY(history->integer("entries.0.revision") > set->integer("revision"));
    auto health = s.ok(QStringLiteral("sidecar_health"), "{}");
    QVERIFY2(health, qPrintable(s.problem()));
    CHECK_FIELD(*health, "key_count", "1");

    // Writes right after an expiry see the key as absent, and the sweep never removes them.
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"again","value":1,"ttl_seconds":0.05})"));
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"cas","value":1,"ttl_seconds":0.05})"));
    const QByteArray againArgs = R"({"key":"again"})";
    QTRY_COMPARE_WITH_TIMEOUT(s.okText(QStringLiteral("state_get"), againArgs, "found"), QByteArray("false"),
                              10000);
    const QByteArray casArgs = R"({"key":"cas"})";
    QTRY_COMPARE_WITH_TIMEOUT(s.okText(QStringLiteral("state_get"), casArgs, "found"), QByteArray("false"),
                              10000);
    auto reset = s.ok(QStringLiteral("state_set"), R"({"key":"again","value":2})");
    QVERIFY2(reset, qPrintable(s.problem()));
    auto created = s.ok(QStringLiteral("state_set"), R"({"key":"cas","value":2,"if_version":0})");
    QVERIFY2(created, qPrintable(s.problem()));
    CHECK_FIELD(*created, "ok", "true");
    const QByteArray againHistory = R"({"key":"again"})";
    QTRY_VERIFY_WITH_TIMEOUT(s.okText(QStringLiteral("history_log"), againHistory).contains(expireOp), 10000);
    auto kept = s.ok(QStringLiteral("state_get"), R"({"key":"again"})");
    QVERIFY2(kept, qPrintable(s.problem()));
    CHECK_FIELD(*kept, "value", "2");
    CHECK_FIELD(*kept, "expires_at", "null");
    auto keptCas = s.ok(QStringLiteral("state_get"), R"({"key":"cas"})");
    QVERIFY2(keptCas, qPrintable(s.problem()));
    CHECK_FIELD(*keptCas, "value", "2");
    auto againLog = s.ok(QStringLiteral("history_log"), R"({"key":"again"})");
    QVERIFY2(againLog, qPrintable(s.problem()));
    CHECK_FIELD(*againLog, "entries.0.op", "\"set\"");
    CHECK_FIELD(*againLog, "entries.0.previous_value", "null"); // the expired value was gone
}

void TestStdioServer::stateWatch()
{
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    // Nothing yet: it waits up to the timeout, then answers without events.
    auto empty = s.ok(QStringLiteral("state_watch"), R"({"since_revision":0,"timeout_seconds":0.2})");
    QVERIFY2(empty, qPrintable(s.problem()));
    CHECK_FIELD(*empty, "events", "[]");
    CHECK_FIELD(*empty, "revision", "0");
    QVERIFY(!empty->has("more") && !empty->has("compacted"));

    auto a = s.ok(QStringLiteral("state_set"), R"({"key":"w/a","value":{"v":1},"agent_id":"x"})");
    auto b = s.ok(QStringLiteral("state_set"), R"({"key":"w/b","value":2})");
    auto o = s.ok(QStringLiteral("state_set"), R"({"key":"other","value":3})");
    auto d = s.ok(QStringLiteral("state_delete"), R"({"key":"w/a"})");
    auto wf = s.ok(QStringLiteral("workflow_create"), R"({"name":"watched"})");
    QVERIFY2(a && b && o && d && wf, qPrintable(s.problem()));

    // Every kv change after the revision, oldest first, as history entries; `revision` is the store's.
    auto all = s.ok(QStringLiteral("state_watch"), R"({"since_revision":0,"timeout_seconds":5})");
    QVERIFY2(all, qPrintable(s.problem()));
    QCOMPARE(all->count("events"), 4);
    QCOMPARE(all->integer("events.0.revision"), a->integer("revision"));
    CHECK_FIELD(*all, "events.0.kind", "\"kv\"");
    CHECK_FIELD(*all, "events.0.op", "\"set\"");
    CHECK_FIELD(*all, "events.0.key", "\"w/a\"");
    CHECK_FIELD(*all, "events.0.new_value", R"({"v":1})");
    CHECK_FIELD(*all, "events.0.previous_value", "null");
    CHECK_FIELD(*all, "events.0.agent_id", "\"x\"");
    QVERIFY(all->has("events.0.id") && all->has("events.0.written_at"));
    CHECK_FIELD(*all, "events.3.op", "\"delete\"");
    CHECK_FIELD(*all, "events.3.previous_value", R"({"v":1})");
    QCOMPARE(all->integer("events.3.revision"), d->integer("revision"));
    auto health = s.ok(QStringLiteral("sidecar_health"), "{}");
    QVERIFY2(health, qPrintable(s.problem()));
    QCOMPARE(all->integer("revision"), health->integer("revision"));

    // Filters: exclusive since, prefix, key, kind.
    const QList<QPair<QByteArray, QByteArray>> filters = {
        {R"({"since_revision":)" + a->text("revision") + R"(,"timeout_seconds":5})", "set,set,delete"},
        {R"({"since_revision":0,"prefix":"w/","timeout_seconds":5})", "set,set,delete"},
        {R"({"since_revision":0,"key":"w/a","timeout_seconds":5})", "set,delete"},
        {R"({"since_revision":0,"kind":"workflow","timeout_seconds":5})", "create"},
        {R"({"since_revision":0,"prefix":"zz","timeout_seconds":0.5})", ""},
    };
    for (const auto &[args, ops] : filters) {
        auto r = s.ok(QStringLiteral("state_watch"), args);
        QVERIFY2(r, qPrintable(s.problem()));
        QByteArrayList seen;
        for (const json::Value &e : r->get("events")->items())
            seen.append(QByteArray::fromStdString(e.find("op")->text()));
        QVERIFY2(seen.join(',') == ops, QByteArray(args + " -> " + seen.join(',')).constData());
    }
    QCOMPARE(s.toolError(QStringLiteral("state_watch"), R"({"since_revision":0,"key":"k","prefix":"p"})"),
             QStringLiteral("invalid_argument"));
    QCOMPARE(s.toolError(QStringLiteral("state_watch"), R"({"since_revision":0,"timeout_seconds":31})"),
             QStringLiteral("invalid_argument"));
    QCOMPARE(s.toolError(QStringLiteral("state_watch"), R"({"timeout_seconds":1})"),
             QStringLiteral("invalid_argument"));
    QCOMPARE(s.toolError(QStringLiteral("state_watch"), R"({"since_revision":-1})"),
             QStringLiteral("invalid_argument"));

    // A long poll does not block the session: a write sent after it is answered, and wakes it.
    const QByteArray now = all->text("revision");
    s.process().sendLine(
        toolCall("\"watch\"", "state_watch",
                 R"({"since_revision":)" + now + R"(,"prefix":"live/","timeout_seconds":25})"));
    s.process().sendLine(toolCall("\"write\"", "state_set", R"({"key":"live/x","value":"woke"})"));
    auto written = s.process().waitFor("\"write\"");
    QVERIFY(written && structured(*written));
    auto woke = s.process().waitFor("\"watch\"");
    QVERIFY(woke && structured(*woke));
    const json::Value *events = structured(*woke)->find("events");
    QCOMPARE(events->items().size(), std::size_t(1));
    QCOMPARE(events->items().front().find("key")->toQString(), QStringLiteral("live/x"));
    QCOMPARE(events->items().front().find("revision")->compact(),
             structured(*written)->find("revision")->compact());

    // Another process on the same file wakes it too.
    SidecarClient other;
    QVERIFY2(other.start({}, s.dbPath()), qPrintable(other.problem()));
    const QByteArray from = structured(*woke)->find("revision")->compact();
    s.process().sendLine(
        toolCall("\"watch2\"", "state_watch",
                 R"({"since_revision":)" + from + R"(,"prefix":"live/","timeout_seconds":25})"));
    auto remote = other.ok(QStringLiteral("state_set"), R"({"key":"live/y","value":"from elsewhere"})");
    QVERIFY2(remote, qPrintable(other.problem()));
    auto crossed = s.process().waitFor("\"watch2\"");
    QVERIFY(crossed && structured(*crossed));
    QCOMPARE(structured(*crossed)->find("events")->items().size(), std::size_t(1));
    QCOMPARE(structured(*crossed)->find("events")->items().front().find("key")->toQString(),
             QStringLiteral("live/y"));

    // More than 1000 waiting: 1000 events, more:true and the last event's revision to go on from.
    const QByteArray before = structured(*crossed)->find("revision")->compact();
    QByteArray bulk;
    for (int i = 0; i < 1100; ++i)
        bulk += toolCall("\"b" + QByteArray::number(i) + '"', "state_set",
                         R"({"key":"bulk/)" + QByteArray::number(i) + R"(","value":[)" + QByteArray::number(i)
                             + ",\"" + QByteArray(1000, 'v') + "\"]}")
                + '\n';
    s.process().process().write(bulk);
    for (int i = 0; i < 1100; ++i)
        QVERIFY(s.process().waitFor("\"b" + QByteArray::number(i) + '"'));
    auto page = s.ok(QStringLiteral("state_watch"),
                     R"({"since_revision":)" + before + R"(,"prefix":"bulk/","timeout_seconds":5})");
    QVERIFY2(page, qPrintable(s.problem()));
    QCOMPARE(page->count("events"), 1000);
    CHECK_FIELD(*page, "more", "true");
    QCOMPARE(page->integer("revision"), page->integer("events.999.revision"));
    auto rest = s.ok(QStringLiteral("state_watch"), R"({"since_revision":)" + page->text("revision")
                                                        + R"(,"prefix":"bulk/","timeout_seconds":5})");
    QVERIFY2(rest, qPrintable(s.problem()));
    QCOMPARE(rest->count("events"), 100);
    CHECK_FIELD(*rest, "events.99.key", "\"bulk/1099\"");
    QVERIFY(!rest->has("more") || rest->text("more") == "false");

    // timeout_seconds 0 means "do not wait", not "skip what is there": the answer's revision is
    // where the caller goes on from, so events left out are lost to it for good. (A read of 1000
    // such events is slow: a deadline that does not wait for it loses them every time.)
    int complete = 0;
    for (int i = 0; i < 5; ++i) {
        auto immediate = s.ok(QStringLiteral("state_watch"),
                              R"({"since_revision":)" + before + R"(,"prefix":"bulk/","timeout_seconds":0})");
        QVERIFY2(immediate, qPrintable(s.problem()));
        complete += immediate->count("events") == 1000 ? 1 : 0;
    }
    QCOMPARE(complete, 5);

    // Pending watches are answered at once on shutdown: SIGTERM there, end of input here.
    const QByteArray latest = rest->text("revision");
    other.process().sendLine(toolCall("\"parked2\"", "state_watch",
                                      R"({"since_revision":)" + latest + R"(,"timeout_seconds":30})"));
    s.process().sendLine(toolCall("\"parked\"", "state_watch",
                                  R"({"since_revision":)" + latest + R"(,"timeout_seconds":30})"));
    QVERIFY(s.alive() && other.alive()); // both watches are parked by now
    other.process().terminate();
    QVERIFY2(other.process().waitForExit(10000), "a pending watch must not hold up SIGTERM");
    QCOMPARE(other.process().process().exitCode(), 0);
    auto parked2 = other.process().waitFor("\"parked2\"", 1000);
    QVERIFY2(parked2 && structured(*parked2), "the pending watch is answered at SIGTERM");
    QCOMPARE(structured(*parked2)->find("events")->compact(), QByteArray("[]"));
    s.process().closeInput();
    QVERIFY2(s.process().waitForExit(10000), "a pending watch held up the exit at the end of input");
    QCOMPARE(s.process().process().exitCode(), 0);
    auto parked = s.process().waitFor("\"parked\"", 1000);
    QVERIFY2(parked && structured(*parked), "the pending watch is answered at shutdown");
}

void TestStdioServer::stateWatchCompacted()
{
    SidecarClient s;
    QVERIFY2(s.start({QStringLiteral("--history-limit"), QStringLiteral("5")}), qPrintable(s.problem()));
    qint64 last = 0;
    for (int i = 0; i < 10; ++i) {
        auto w = s.ok(QStringLiteral("state_set"), R"({"key":"c","value":)" + QByteArray::number(i) + "}");
        QVERIFY2(w, qPrintable(s.problem()));
        last = w->integer("revision");
    }
    // Older than the oldest retained entry: compacted, no events, and where to watch from.
    auto compacted = s.ok(QStringLiteral("state_watch"), R"({"since_revision":1,"timeout_seconds":5})");
    QVERIFY2(compacted, qPrintable(s.problem()));
    CHECK_FIELD(*compacted, "compacted", "true");
    CHECK_FIELD(*compacted, "events", "[]");
    QCOMPARE(compacted->integer("revision"), last);
    auto recent = s.ok(QStringLiteral("state_watch"),
                       R"({"since_revision":)" + QByteArray::number(last - 2) + R"(,"timeout_seconds":5})");
    QVERIFY2(recent, qPrintable(s.problem()));
    QCOMPARE(recent->count("events"), 2);
    QVERIFY(!recent->has("compacted") || recent->text("compacted") == "false");
    auto immediate = s.ok(QStringLiteral("state_watch"), R"({"since_revision":1,"timeout_seconds":0})");
    QVERIFY2(immediate, qPrintable(s.problem()));
    CHECK_FIELD(*immediate, "compacted", "true");
}

// ---------------------------------------------------------------- limits and configuration

void TestStdioServer::valueSizeIsMeasuredCompact()
{
    // On the shared server: --max-value-bytes 4096.
    SidecarClient &s = m_shared;
    const QByteArray exact = '"' + QByteArray(4094, 'v') + '"'; // 4096 bytes compact
    QVERIFY2(s.ok(QStringLiteral("state_set"), R"({"key":"size","value":)" + exact + "}"),
             qPrintable(s.problem()));
    const QByteArray overLimit = "{\"key\":\"size\",\"value\":\"" + QByteArray(4095, 'v')
                                 + "\"}"; // 4097 compact
    QCOMPARE(s.toolError(QStringLiteral("state_set"), overLimit), QStringLiteral("too_large"));
    // Whitespace in the request does not count: 20000 bytes sent, 11 compact.
    const QByteArray airy = "[ 1," + QByteArray(10000, ' ') + "2," + QByteArray(10000, '\t') + "3 ]";
    QVERIFY2(s.ok(QStringLiteral("state_set"), R"({"key":"airy","value":)" + airy + "}"),
             qPrintable(s.problem()));
    auto got = s.ok(QStringLiteral("state_get"), R"({"key":"airy"})");
    QVERIFY2(got, qPrintable(s.problem()));
    CHECK_FIELD(*got, "value", "[1,2,3]");
    // A request may be the value limit plus 1 MiB: a legal value with much whitespace around it.
    const QByteArray padded = R"({"key":"padded",)" + QByteArray((1 << 20) - 2000, ' ') + R"("value":)"
                              + exact + "}";
    QVERIFY2(s.ok(QStringLiteral("state_set"), padded), qPrintable(s.problem()));
    auto size = s.ok(QStringLiteral("state_get"), R"({"key":"size"})");
    QVERIFY2(size, qPrintable(s.problem()));
    CHECK_FIELD(*size, "value", exact);
}

void TestStdioServer::listLimits()
{
    SidecarClient s;
    QVERIFY2(s.start({QStringLiteral("--max-list"), QStringLiteral("5"), QStringLiteral("--max-reply-bytes"),
                      QStringLiteral("4096")}),
             qPrintable(s.problem()));
    for (int i = 0; i < 5; ++i)
        QVERIFY(
            s.ok(QStringLiteral("state_set"), R"({"key":"l)" + QByteArray::number(i) + R"(","value":0})"));
    auto five = s.ok(QStringLiteral("state_list"), "{}");
    QVERIFY2(five, qPrintable(s.problem()));
    QCOMPARE(five->count("keys"), 5);
    QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"l5","value":0})"));
    // Past SIDECAR_MAX_LIST without limit: too_large, telling the caller to page.
    QCOMPARE(s.toolError(QStringLiteral("state_list"), "{}"), QStringLiteral("too_large"));
    auto page = s.ok(QStringLiteral("state_list"), R"({"limit":4})");
    QVERIFY2(page, qPrintable(s.problem()));
    QCOMPARE(page->count("keys"), 4);
    auto rest = s.ok(QStringLiteral("state_list"), R"({"cursor":)" + page->text("next_cursor") + "}");
    QVERIFY2(rest, qPrintable(s.problem()));
    CHECK_FIELD(*rest, "keys", R"(["l4","l5"])");
    for (int i = 0; i < 6; ++i) {
        QVERIFY(s.ok(QStringLiteral("workflow_create"), R"({"name":"w"})"));
        QVERIFY(s.ok(QStringLiteral("session_save"),
                     R"({"session_id":"s)" + QByteArray::number(i) + R"(","context":{}})"));
        QVERIFY(s.ok(QStringLiteral("lease_acquire"), R"({"resource_id":"r)" + QByteArray::number(i)
                                                          + R"(","holder_id":"h","ttl_seconds":60})"));
    }
    QCOMPARE(s.toolError(QStringLiteral("workflow_list"), "{}"), QStringLiteral("too_large"));
    QCOMPARE(s.toolError(QStringLiteral("workflow_discover"), R"({"name":"w"})"),
             QStringLiteral("too_large"));
    QCOMPARE(s.toolError(QStringLiteral("session_list"), "{}"), QStringLiteral("too_large"));
    QCOMPARE(s.toolError(QStringLiteral("lease_list"), "{}"), QStringLiteral("too_large"));
    QVERIFY(s.ok(QStringLiteral("workflow_list"), R"({"limit":5})"));

    // A list within SIDECAR_MAX_LIST whose reply would pass SIDECAR_MAX_REPLY_BYTES is too_large too.
    QVERIFY(s.ok(QStringLiteral("state_delete"), R"({"key":"l5"})"));
    for (int i = 0; i < 5; ++i)
        QVERIFY(s.ok(QStringLiteral("state_set"),
                     R"({"key":"l)" + QByteArray::number(i) + QByteArray(400, 'x') + R"(","value":0})"));
    QCOMPARE(s.toolError(QStringLiteral("state_list"), R"({"prefix":"l"})"), QStringLiteral("too_large"));
    auto paged = s.ok(QStringLiteral("state_list"), R"({"prefix":"l","limit":3})");
    QVERIFY2(paged, qPrintable(s.problem()));

    // history_log stops early instead, with more:true.
    const QByteArray big = '"' + QByteArray(1500, 'h') + '"';
    for (int i = 0; i < 5; ++i)
        QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"big","value":)" + big + "}"));
    auto history = s.ok(QStringLiteral("history_log"), R"({"key":"big","n":5})");
    QVERIFY2(history, qPrintable(s.problem()));
    QVERIFY2(history->integer("total") >= 1 && history->integer("total") < 5,
             history->text("total").constData());
    CHECK_FIELD(*history, "more", "true");
    QCOMPARE(history->count("entries"), history->integer("total"));
    QVERIFY(history->text().size() <= 4096);
}

void TestStdioServer::historyRetention()
{
    SidecarClient s;
    QVERIFY2(s.start({QStringLiteral("--history-limit"), QStringLiteral("3")}), qPrintable(s.problem()));
    qint64 last = 0;
    for (int i = 0; i < 6; ++i) {
        auto w = s.ok(QStringLiteral("state_set"), R"({"key":"k","value":)" + QByteArray::number(i) + "}");
        QVERIFY2(w, qPrintable(s.problem()));
        last = w->integer("revision");
    }
    auto history = s.ok(QStringLiteral("history_log"), R"({"n":100})");
    QVERIFY2(history, qPrintable(s.problem()));
    CHECK_FIELD(*history, "total", "3");
    QCOMPARE(history->integer("entries.0.revision"), last);
    CHECK_FIELD(*history, "entries.0.new_value", "5");
    CHECK_FIELD(*history, "entries.2.new_value", "3");
    QVERIFY(!history->has("more") || history->text("more") == "false");

    // SIDECAR_HISTORY_MAX_BYTES: the oldest entries go first, the newest stays.
    SidecarClient bytes;
    QVERIFY2(bytes.start({QStringLiteral("--history-max-bytes"), QStringLiteral("3000")}),
             qPrintable(bytes.problem()));
    for (int i = 0; i < 10; ++i) {
        const QByteArray args = "{\"key\":\"k\",\"value\":\"" + QByteArray(500, char('a' + i)) + "\"}";
        QVERIFY2(bytes.ok(QStringLiteral("state_set"), args), qPrintable(bytes.problem()));
    }
    auto kept = bytes.ok(QStringLiteral("history_log"), R"({"n":100})");
    QVERIFY2(kept, qPrintable(bytes.problem()));
    QVERIFY2(kept->integer("total") >= 1 && kept->integer("total") <= 3, kept->text("total").constData());
    CHECK_FIELD(*kept, "entries.0.new_value", '"' + QByteArray(500, 'j') + '"');
}

void TestStdioServer::repliesStayWithinTheReplyLimit()
{
    // TOOLS.md: "A reply never exceeds SIDECAR_MAX_REPLY_BYTES". workflow_resume returns every
    // step's output: with enough steps it passes any limit.
    SidecarClient s;
    QVERIFY2(s.start({QStringLiteral("--max-reply-bytes"), QStringLiteral("4096"),
                      QStringLiteral("--max-value-bytes"), QStringLiteral("4096")}),
             qPrintable(s.problem()));
    auto created = s.ok(QStringLiteral("workflow_create"), R"({"name":"big"})");
    QVERIFY2(created, qPrintable(s.problem()));
    const QByteArray run = quoted(created->str("run_id"));
    for (int step = 0; step < 3; ++step) {
        const QByteArray args = R"({"run_id":)" + run + R"(,"step":)" + QByteArray::number(step)
                                + ",\"output\":\"" + QByteArray(3000, 'o') + "\"}";
        QVERIFY2(s.ok(QStringLiteral("workflow_checkpoint"), args), qPrintable(s.problem()));
    }
    auto answer = s.process().call(QStringLiteral("workflow_resume"), R"({"run_id":)" + run + "}");
    QVERIFY(answer);
    const json::Value *sc = structured(*answer);
    const bool withinLimit = toolErrorCode(*answer) == QLatin1String("too_large")
                             || (sc && sc->compact().size() <= 4096);
    QVERIFY2(withinLimit, qPrintable(QStringLiteral("a %1-byte structuredContent with a 4096-byte limit")
                                         .arg(sc ? sc->compact().size() : -1)));
}

void TestStdioServer::claimTtlDefaultAndExtensions()
{
    SidecarClient s;
    QVERIFY2(s.start({QStringLiteral("--claim-ttl"), QStringLiteral("42")}), qPrintable(s.problem()));
    auto created = s.ok(QStringLiteral("workflow_create"), R"({"name":"w"})");
    QVERIFY2(created, qPrintable(s.problem()));
    const QByteArray run = quoted(created->str("run_id"));
    double before = nowSeconds();
    auto claim = s.ok(QStringLiteral("workflow_claim"), R"({"run_id":)" + run + R"(,"agent_id":"a"})");
    QVERIFY2(claim, qPrintable(s.problem()));
    QVERIFY2(qAbs(claim->number("claim_expires_at") - (before + 42)) < 5, claim->text().constData());
    // A claim with its own TTL: heartbeats and checkpoints extend by that TTL.
    auto other = s.ok(QStringLiteral("workflow_create"), R"({"name":"w"})");
    QVERIFY2(other, qPrintable(s.problem()));
    const QByteArray run2 = quoted(other->str("run_id"));
    QVERIFY(s.ok(QStringLiteral("workflow_claim"),
                 R"({"run_id":)" + run2 + R"(,"agent_id":"a","ttl_seconds":1000})"));
    QVERIFY(s.ok(QStringLiteral("workflow_heartbeat"),
                 R"({"run_id":)" + run2 + R"(,"agent_id":"a","ttl_seconds":5})"));
    auto shortened = s.ok(QStringLiteral("workflow_status"), R"({"run_id":)" + run2 + "}");
    QVERIFY2(shortened, qPrintable(s.problem()));
    QVERIFY2(shortened->number("claim_expires_at") < nowSeconds() + 6,
             "a heartbeat's ttl_seconds sets expires = now + ttl");
    before = nowSeconds();
    auto beat = s.ok(QStringLiteral("workflow_heartbeat"), R"({"run_id":)" + run2 + R"(,"agent_id":"a"})");
    QVERIFY2(beat, qPrintable(s.problem()));
    QVERIFY2(qAbs(beat->number("claim_expires_at") - (before + 1000)) < 5, beat->text().constData());
    QVERIFY(s.ok(QStringLiteral("workflow_heartbeat"),
                 R"({"run_id":)" + run2 + R"(,"agent_id":"a","ttl_seconds":5})"));
    before = nowSeconds();
    QVERIFY(s.ok(QStringLiteral("workflow_checkpoint"),
                 R"({"run_id":)" + run2 + R"(,"step":1,"output":1,"agent_id":"a"})"));
    auto extended = s.ok(QStringLiteral("workflow_status"), R"({"run_id":)" + run2 + "}");
    QVERIFY2(extended, qPrintable(s.problem()));
    QVERIFY2(qAbs(extended->number("claim_expires_at") - (before + 1000)) < 5, extended->text().constData());
}

void TestStdioServer::settingsFromTheEnvironment()
{
    const QString db = freshDbPath(QStringLiteral("env"));
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("DB_PATH"), db);
    env.insert(QStringLiteral("SIDECAR_ALLOW_RESET"), QStringLiteral("yes"));
    env.insert(QStringLiteral("SIDECAR_MAX_VALUE_BYTES"), QStringLiteral("100"));
    env.insert(QStringLiteral("STATE_BACKEND"), QStringLiteral("SQLite"));
    {
        ServerProcess p;
        QVERIFY(p.start({}, env));
        QVERIFY2(p.initialize(), qPrintable(p.errorString()));
        auto set = p.call(QStringLiteral("state_set"), R"({"key":"from-env","value":1})");
        QVERIFY(set && structured(*set));
        auto big = p.call(QStringLiteral("state_set"),
                          R"({"key":"big","value":")" + QByteArray(200, 'x') + "\"}");
        QVERIFY(big);
        QCOMPARE(toolErrorCode(*big), QStringLiteral("too_large"));
        auto reset = p.call(QStringLiteral("sidecar_reset"), R"({})");
        QVERIFY(reset);
        QCOMPARE(toolErrorCode(*reset), QStringLiteral("invalid_argument")); // allowed, but not confirmed
        p.closeInput();
        QVERIFY(p.waitForExit(30000));
        QCOMPARE(p.process().exitCode(), 0);
    }
    QVERIFY2(QFileInfo::exists(db), "DB_PATH names the database file");
    // A flag wins over the environment.
    {
        ServerProcess p;
        QVERIFY(p.start({QStringLiteral("--allow-reset=false"), QStringLiteral("--max-value-bytes"),
                         QStringLiteral("1000")},
                        env));
        QVERIFY2(p.initialize(), qPrintable(p.errorString()));
        auto got = p.call(QStringLiteral("state_get"), R"({"key":"from-env"})");
        QVERIFY(got && structured(*got));
        QCOMPARE(structured(*got)->find("found")->compact(), QByteArray("true"));
        auto reset = p.call(QStringLiteral("sidecar_reset"), R"({"confirm":"RESET"})");
        QVERIFY(reset);
        QCOMPARE(toolErrorCode(*reset), QStringLiteral("forbidden"));
        auto big = p.call(QStringLiteral("state_set"),
                          R"({"key":"big","value":")" + QByteArray(200, 'x') + "\"}");
        QVERIFY(big && structured(*big));
    }
}

// ---------------------------------------------------------------- errors and hostile input

void TestStdioServer::toolErrors_data()
{
    // On the shared server started with --max-value-bytes 4096.
    QTest::addColumn<QString>("tool");
    QTest::addColumn<QByteArray>("args");
    QTest::addColumn<QString>("code");
    const QString invalid = QStringLiteral("invalid_argument");
    const QString tooLarge = QStringLiteral("too_large");
    const QByteArray big = '"' + QByteArray(5000, 'x') + '"';

    QTest::newRow("wrong type: key") << QStringLiteral("state_set") << QByteArray(R"({"key":5,"value":1})")
                                     << invalid;
    QTest::newRow("wrong type: ttl") << QStringLiteral("state_set")
                                     << QByteArray(R"({"key":"k","value":1,"ttl_seconds":"soon"})")
                                     << invalid;
    QTest::newRow("wrong type: ttl bool")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"k","value":1,"ttl_seconds":true})")
        << invalid;
    QTest::newRow("wrong type: if_version float")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"k","value":1,"if_version":1.5})") << invalid;
    QTest::newRow("wrong type: tags")
        << QStringLiteral("workflow_create") << QByteArray(R"({"name":"n","tags":{"a":1}})") << invalid;
    QTest::newRow("wrong type: context")
        << QStringLiteral("session_save") << QByteArray(R"({"session_id":"s","context":[1]})") << invalid;
    QTest::newRow("wrong type: claimable")
        << QStringLiteral("workflow_discover") << QByteArray(R"({"claimable":"yes"})") << invalid;
    QTest::newRow("wrong type: step") << QStringLiteral("workflow_checkpoint")
                                      << QByteArray(R"({"run_id":"r","step":"one","output":1})") << invalid;
    QTest::newRow("unknown property")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"k","value":1,"bogus":true})") << invalid;
    QTest::newRow("unknown property, no-argument tool")
        << QStringLiteral("sidecar_health") << QByteArray(R"({"verbose":true})") << invalid;
    QTest::newRow("unknown property in require_lease")
        << QStringLiteral("state_set")
        << QByteArray(R"({"key":"k","value":1,"require_lease":{"resource_id":"r","holder_id":"h","x":1}})")
        << invalid;
    QTest::newRow("missing required: value")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"k"})") << invalid;
    QTest::newRow("missing required: key") << QStringLiteral("state_get") << QByteArray(R"({})") << invalid;
    QTest::newRow("missing required: ttl")
        << QStringLiteral("lease_acquire") << QByteArray(R"({"resource_id":"r","holder_id":"h"})") << invalid;
    QTest::newRow("missing required: status")
        << QStringLiteral("workflow_complete") << QByteArray(R"({"run_id":"r","agent_id":"a"})") << invalid;
    QTest::newRow("required given as null")
        << QStringLiteral("state_get") << QByteArray(R"({"key":null})") << invalid;
    QTest::newRow("duplicate key in arguments")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"a","key":"b","value":1})") << invalid;
    QTest::newRow("duplicate key inside the value")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"a","value":{"x":1,"y":{"z":1,"z":2}}})")
        << invalid;
    QTest::newRow("duplicate key in a context")
        << QStringLiteral("session_save") << QByteArray(R"({"session_id":"s","context":{"a":1,"a":1}})")
        << invalid;
    QTest::newRow("ttl 0") << QStringLiteral("state_set")
                           << QByteArray(R"({"key":"k","value":1,"ttl_seconds":0})") << invalid;
    QTest::newRow("ttl negative") << QStringLiteral("state_set")
                                  << QByteArray(R"({"key":"k","value":1,"ttl_seconds":-1})") << invalid;
    QTest::newRow("ttl below 1 ms") << QStringLiteral(
        "lease_acquire") << QByteArray(R"({"resource_id":"r","holder_id":"h","ttl_seconds":0.0001})")
                                    << invalid;
    QTest::newRow("ttl over a year") << QStringLiteral(
        "lease_acquire") << QByteArray(R"({"resource_id":"r","holder_id":"h","ttl_seconds":31536001})")
                                     << invalid;
    QTest::newRow("claim ttl 0") << QStringLiteral("workflow_claim")
                                 << QByteArray(R"({"run_id":"r","agent_id":"a","ttl_seconds":0})") << invalid;
    QTest::newRow("renew ttl negative")
        << QStringLiteral("lease_renew")
        << QByteArray(R"({"resource_id":"r","holder_id":"h","ttl_seconds":-5})") << invalid;
    QTest::newRow("ttl as a negative string")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"k","value":1,"ttl_seconds":"-3"})")
        << invalid;
    QTest::newRow("empty key") << QStringLiteral("state_set") << QByteArray(R"({"key":"","value":1})")
                               << invalid;
    QTest::newRow("empty run id") << QStringLiteral("workflow_status") << QByteArray(R"({"run_id":""})")
                                  << invalid;
    QTest::newRow("empty agent id") << QStringLiteral("workflow_claim")
                                    << QByteArray(R"({"run_id":"r","agent_id":""})") << invalid;
    QTest::newRow("empty resource id")
        << QStringLiteral("lease_release") << QByteArray(R"({"resource_id":"","holder_id":"h"})") << invalid;
    QTest::newRow("empty session id")
        << QStringLiteral("session_restore") << QByteArray(R"({"session_id":""})") << invalid;
    QTest::newRow("empty workflow name")
        << QStringLiteral("workflow_create") << QByteArray(R"({"name":""})") << invalid;
    QTest::newRow("key over 512 bytes")
        << QStringLiteral("state_get") << R"({"key":")" + QByteArray(513, 'k') + "\"}" << invalid;
    QTest::newRow("negative step") << QStringLiteral("workflow_checkpoint")
                                   << QByteArray(R"({"run_id":"r","step":-1,"output":1})") << invalid;
    QTest::newRow("negative if_version")
        << QStringLiteral("state_set") << QByteArray(R"({"key":"k","value":1,"if_version":-1})") << invalid;
    QTest::newRow("max_attempts 0") << QStringLiteral("workflow_create")
                                    << QByteArray(R"({"name":"n","max_attempts":0})") << invalid;
    QTest::newRow("bad status") << QStringLiteral("workflow_complete")
                                << QByteArray(R"({"run_id":"r","agent_id":"a","status":"finished"})")
                                << invalid;
    QTest::newRow("history n 0") << QStringLiteral("history_log") << QByteArray(R"({"n":0})") << invalid;
    QTest::newRow("history n 1001") << QStringLiteral("history_log") << QByteArray(R"({"n":1001})")
                                    << invalid;
    QTest::newRow("list limit 0") << QStringLiteral("state_list") << QByteArray(R"({"limit":0})") << invalid;
    QTest::newRow("list limit 10001")
        << QStringLiteral("workflow_list") << QByteArray(R"({"limit":10001})") << invalid;
    QTest::newRow("two-character delimiter")
        << QStringLiteral("state_list") << QByteArray(R"({"delimiter":"//"})") << invalid;
    QTest::newRow("bad cursor") << QStringLiteral("session_list")
                                << QByteArray(R"({"limit":5,"cursor":"\u0000garbage"})") << invalid;
    QTest::newRow("integer beyond 64 bits")
        << QStringLiteral("history_log") << QByteArray(R"({"before_revision":99999999999999999999})")
        << invalid;
    QTest::newRow("value too large") << QStringLiteral("state_set") << R"({"key":"k","value":)" + big + "}"
                                     << tooLarge;
    QTest::newRow("input too large") << QStringLiteral("workflow_create")
                                     << R"({"name":"n","input":)" + big + "}" << tooLarge;
    QTest::newRow("output too large") << QStringLiteral("workflow_checkpoint")
                                      << R"({"run_id":"r","step":1,"output":)" + big + "}" << tooLarge;
    QTest::newRow("result too large")
        << QStringLiteral("workflow_complete")
        << R"({"run_id":"r","agent_id":"a","status":"done","result":)" + big + "}" << tooLarge;
    QTest::newRow("context too large")
        << QStringLiteral("session_save") << R"({"session_id":"s","context":{"c":)" + big + "}}" << tooLarge;
    QTest::newRow("not found: resume")
        << QStringLiteral("workflow_resume") << QByteArray(R"({"run_id":"wf-ffffffffffff"})")
        << QStringLiteral("not_found");
    QTest::newRow("forbidden: reset") << QStringLiteral("sidecar_reset")
                                      << QByteArray(R"({"confirm":"RESET"})") << QStringLiteral("forbidden");
}

void TestStdioServer::toolErrors()
{
    QFETCH(QString, tool);
    QFETCH(QByteArray, args);
    QFETCH(QString, code);
    SidecarClient &s = m_shared;
    QCOMPARE(s.toolError(tool, args), code);
    // The server goes on with the next request.
    QVERIFY(s.alive());
    QVERIFY2(s.ok(QStringLiteral("state_get"), R"({"key":"k"})"), qPrintable(s.problem()));
}

void TestStdioServer::rpcErrors_data()
{
    QTest::addColumn<QByteArray>("line");
    QTest::addColumn<int>("code");
    QTest::addColumn<QByteArray>("id"); // the answer's id, compact

    QTest::newRow("malformed: truncated")
        << QByteArray(R"({"jsonrpc":"2.0","id":1,"method":"ping")") << -32700 << QByteArray("null");
    QTest::newRow("malformed: not JSON") << QByteArray("hello there") << -32700 << QByteArray("null");
    QTest::newRow("malformed: trailing garbage")
        << QByteArray(R"({"jsonrpc":"2.0","id":2,"method":"ping"} x)") << -32700 << QByteArray("null");
    QTest::newRow("malformed: single quotes")
        << QByteArray(R"({'jsonrpc':'2.0','id':3,'method':'ping'})") << -32700 << QByteArray("null");
    QTest::newRow("malformed: trailing comma")
        << QByteArray(R"({"jsonrpc":"2.0","id":3,"method":"ping",})") << -32700 << QByteArray("null");
    QTest::newRow("not an object: string") << QByteArray(R"("ping")") << -32600 << QByteArray("null");
    QTest::newRow("not an object: number") << QByteArray("42") << -32600 << QByteArray("null");
    QTest::newRow("not an object: null") << QByteArray("null") << -32600 << QByteArray("null");
    QTest::newRow("batch in a 2025-11-25 session")
        << QByteArray(R"([{"jsonrpc":"2.0","id":4,"method":"ping"}])") << -32600 << QByteArray("null");
    QTest::newRow("empty batch") << QByteArray("[]") << -32600 << QByteArray("null");
    QTest::newRow("bad jsonrpc version")
        << QByteArray(R"({"jsonrpc":"1.0","id":5,"method":"ping"})") << -32600 << QByteArray("5");
    QTest::newRow("jsonrpc as a number")
        << QByteArray(R"({"jsonrpc":2.0,"id":6,"method":"ping"})") << -32600 << QByteArray("6");
    QTest::newRow("no jsonrpc") << QByteArray(R"({"id":7,"method":"ping"})") << -32600 << QByteArray("7");
    QTest::newRow("id of type object")
        << QByteArray(R"({"jsonrpc":"2.0","id":{"a":1},"method":"ping"})") << -32600 << QByteArray("null");
    QTest::newRow("id of type array")
        << QByteArray(R"({"jsonrpc":"2.0","id":[1],"method":"ping"})") << -32600 << QByteArray("null");
    QTest::newRow("id of type bool") << QByteArray(R"({"jsonrpc":"2.0","id":true,"method":"ping"})") << -32600
                                     << QByteArray("null");
    QTest::newRow("id null") << QByteArray(R"({"jsonrpc":"2.0","id":null,"method":"ping"})") << -32600
                             << QByteArray("null");
    QTest::newRow("no method") << QByteArray(R"({"jsonrpc":"2.0","id":8})") << -32600 << QByteArray("8");
    QTest::newRow("method not a string")
        << QByteArray(R"({"jsonrpc":"2.0","id":9,"method":["ping"]})") << -32600 << QByteArray("9");
    QTest::newRow("duplicate key in the envelope")
        << QByteArray(R"({"jsonrpc":"2.0","id":10,"method":"ping","method":"tools/list"})") << -32600
        << QByteArray("10");
    QTest::newRow("unknown method") << QByteArray(R"({"jsonrpc":"2.0","id":11,"method":"tools/destroy"})")
                                    << -32601 << QByteArray("11");
    QTest::newRow("unknown method, string id")
        << QByteArray(R"({"jsonrpc":"2.0","id":"x-12","method":"frobnicate","params":{}})") << -32601
        << QByteArray("\"x-12\"");
    QTest::newRow("unknown tool") << QByteArray(
        R"({"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"state_destroy","arguments":{}}})")
                                  << -32602 << QByteArray("13");
    QTest::newRow("tool name missing")
        << QByteArray(R"({"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"arguments":{"key":"k"}}})")
        << -32602 << QByteArray("14");
    QTest::newRow("tool name not a string")
        << QByteArray(R"({"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":["state_get"]}})")
        << -32602 << QByteArray("15");
    QTest::newRow("tools/call without params")
        << QByteArray(R"({"jsonrpc":"2.0","id":16,"method":"tools/call"})") << -32602 << QByteArray("16");
    QTest::newRow("arguments not an object") << QByteArray(
        R"({"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"state_get","arguments":["k"]}})")
                                             << -32602 << QByteArray("17");
    QTest::newRow("params a string") << QByteArray(
        R"({"jsonrpc":"2.0","id":18,"method":"tools/call","params":"state_get"})")
                                     << -32602 << QByteArray("18");
    QTest::newRow("initialize without a version")
        << QByteArray(R"({"jsonrpc":"2.0","id":19,"method":"initialize","params":{}})") << -32602
        << QByteArray("19");
}

void TestStdioServer::rpcErrors()
{
    QFETCH(QByteArray, line);
    QFETCH(int, code);
    QFETCH(QByteArray, id);
    ServerProcess &p = m_shared.process();
    QVERIFY(p.takeUnclaimed().isEmpty());
    p.sendLine(line);
    // Then a ping: once its answer is here, the error's answer (sent before it) is here too.
    p.sendLine(R"({"jsonrpc":"2.0","id":"after","method":"ping"})");
    auto pong = p.waitFor("\"after\"");
    QVERIFY2(pong && pong->root().find("result"), "the server must go on after an error");
    const QList<QByteArray> lines = p.takeUnclaimed();
    QVERIFY2(lines.size() == 1, qPrintable(QStringLiteral("%1 answers").arg(lines.size())));
    auto answer = json::parse(lines.front());
    QVERIFY2(answer, lines.front().constData());
    QCOMPARE(answer->root().find("jsonrpc")->compact(), QByteArray("\"2.0\""));
    QVERIFY2(!answer->root().find("result"), lines.front().constData());
    QCOMPARE(rpcErrorCode(*answer), code);
    QVERIFY(answer->root().find("error")->find("message")->isString());
    QCOMPARE(answerId(*answer), id);
}

void TestStdioServer::hostileInput_data()
{
    QTest::addColumn<QByteArray>("bytes"); // written as is (include the newlines)
    QTest::addColumn<QList<int>>("codes"); // the error answers expected, in order; 0 = a success answer

    QByteArray garbage;
    QRandomGenerator rng(20250101);
    while (garbage.size() < 64 * 1024) {
        const char c = char(rng.bounded(256));
        if (c != '\n')
            garbage.append(c);
    }
    const QByteArray huge =
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"state_set","arguments":{"key":"huge","value":")"
        + QByteArray(4096 + (1 << 20) + 10, 'x') + "\"}}}\n";

    QTest::newRow("line over the request limit") << huge << QList<int>{-32600};
    QTest::newRow("two huge lines in one write") << huge + huge << QList<int>{-32600, -32600};
    QTest::newRow("huge line, then a request in the same write")
        << huge
               + R"({"jsonrpc":"2.0","id":"next","method":"tools/call","params":{"name":"state_get","arguments":{"key":"huge"}}})"
                 "\n"
        << QList<int>{-32600, 0};
    QTest::newRow("invalid UTF-8 in a string") << QByteArray(
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
        "call\",\"params\":{\"name\":\"state_set\",\"arguments\":{\"key\":\"k\",\"value\":\"\xff\xfe\"}}}\n")
                                               << QList<int>{-32700};
    QTest::newRow("overlong UTF-8") << QByteArray(
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\",\"x\":\"\xc0\xaf\"}\n")
                                    << QList<int>{-32700};
    QTest::newRow("UTF-16 surrogate as UTF-8")
        << QByteArray("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"x\":\"\xed\xa0\x80\"}\n")
        << QList<int>{-32700};
    QTest::newRow("truncated UTF-8 sequence")
        << QByteArray("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"x\":\"\xe2\x82\"}\n")
        << QList<int>{-32700};
    QTest::newRow("invalid UTF-8 outside strings")
        << QByteArray("\xff{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}\n") << QList<int>{-32700};
    QTest::newRow("10000 [") << QByteArray(10000, '[') + '\n' << QList<int>{-32700};
    QTest::newRow("100000 nested objects") << QByteArray("{\"a\":").repeated(100000) + '\n'
                                           << QList<int>{-32700};
    QTest::newRow("deep value in a request")
        << R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"state_set","arguments":{"key":"d","value":)"
               + QByteArray(5000, '[') + QByteArray(5000, ']') + "}}}\n"
        << QList<int>{-32700};
    QTest::newRow("binary garbage") << garbage + '\n' << QList<int>{-32700};
    QTest::newRow("NUL bytes") << QByteArray("{\"jsonrpc\":\"2.0\",") + '\0'
                                      + "\"id\":8,\"method\":\"ping\"}\n"
                               << QList<int>{-32700};
    QTest::newRow("blank lines") << QByteArray("\n\n   \n\t\n\r\n") << QList<int>{};
    QTest::newRow("CRLF line endings")
        << QByteArray("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}\r\n{\"jsonrpc\":\"2.0\",\"id\":10,"
                      "\"method\":\"tools/list\"}\r\n")
        << QList<int>{0, 0};
    QTest::newRow("whitespace around a message")
        << QByteArray("  \t{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"ping\"}  \n") << QList<int>{0};
    QTest::newRow("a notification gets no answer")
        << QByteArray("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}\n") << QList<int>{};
    QTest::newRow("a response from the client gets no answer")
        << QByteArray("{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}\n") << QList<int>{};
    QTest::newRow("unicode line separators inside a string") << QByteArray(
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/"
        "call\",\"params\":{\"name\":\"state_set\",\"arguments\":{\"key\":\"ls\",\"value\":\"a\xe2\x80\xa8"
        "b\xc2\x85"
        "c\"}}}\n") << QList<int>{0};
    QTest::newRow("raw control character in a string")
        << QByteArray("{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"ping\",\"x\":\"a\tb\"}\n")
        << QList<int>{-32700};
    QTest::newRow("lone surrogate escape in a key") << QByteArray(
        R"({"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"state_get","arguments":{"key":"\ud800"}}})"
        "\n") << QList<int>{1};
}

void TestStdioServer::hostileInput()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QList<int>, codes);
    ServerProcess &p = m_shared.process();
    QVERIFY(p.takeUnclaimed().isEmpty());
    p.process().write(bytes);
    // Some answers come later (tool calls): wait for as many as expected, then a ping must be
    // answered with nothing more before it.
    QList<QByteArray> lines;
    QDeadlineTimer deadline(60000);
    while (lines.size() < codes.size() && !deadline.hasExpired()) {
        p.pump(200);
        lines += p.takeUnclaimed();
    }
    p.sendLine(R"({"jsonrpc":"2.0","id":"after","method":"ping"})");
    auto pong = p.waitFor("\"after\"", 60000);
    QVERIFY2(pong && pong->root().find("result"), "the server must go on");
    lines += p.takeUnclaimed();
    QVERIFY2(lines.size() == codes.size(),
             qPrintable(QStringLiteral("%1 answers, expected %2: %3")
                            .arg(lines.size())
                            .arg(codes.size())
                            .arg(QString::fromUtf8(lines.join('\n').left(2000)))));
    for (qsizetype i = 0; i < codes.size(); ++i) {
        auto answer = json::parse(lines[i]);
        QVERIFY2(answer, lines[i].left(500).constData());
        if (codes[i] == 0) {
            QVERIFY2(answer->root().find("result"), lines[i].left(500).constData());
        } else if (codes[i] == 1) {
            // A result (clean or a tool error), or a parse error: one answer, no crash.
            QVERIFY2(answer->root().find("result") || rpcErrorCode(*answer) == -32700,
                     lines[i].left(500).constData());
        } else {
            QCOMPARE(rpcErrorCode(*answer), codes[i]);
            QCOMPARE(answerId(*answer), QByteArray("null"));
        }
    }
    QVERIFY(m_shared.alive());
}

void TestStdioServer::pipelinedRequests()
{
    // 2000 state_set in one write, without waiting: every one answered, each id once.
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    constexpr int n = 2000;
    QByteArray all;
    for (int i = 0; i < n; ++i)
        all += toolCall("\"p-" + QByteArray::number(i) + '"', "state_set",
                        R"({"key":"pipe/)" + QByteArray::number(i) + R"(","value":)" + QByteArray::number(i)
                            + "}")
               + '\n';
    s.process().process().write(all);
    QSet<QByteArray> seen;
    QDeadlineTimer deadline(120000);
    while (seen.size() < n && !deadline.hasExpired()) {
        s.process().pump(1000);
        for (const QByteArray &line : s.process().takeUnclaimed()) {
            auto doc = json::parse(line);
            QVERIFY2(doc, line.constData());
            const QByteArray id = answerId(*doc);
            QVERIFY2(!seen.contains(id), QByteArray("answered twice: " + id).constData());
            seen.insert(id);
            const json::Value *sc = structured(*doc);
            QVERIFY2(sc && sc->find("ok") && sc->find("ok")->toBool(), line.constData());
        }
    }
    QCOMPARE(seen.size(), n);
    auto list = s.ok(QStringLiteral("state_list"), R"({"prefix":"pipe/"})");
    QVERIFY2(list, qPrintable(s.problem()));
    QCOMPARE(list->count("keys"), n);
    // A cursor without limit continues with pages of 1000.
    auto firstPage = s.ok(QStringLiteral("state_list"), R"({"prefix":"pipe/","limit":10})");
    QVERIFY2(firstPage && firstPage->has("next_cursor"), qPrintable(s.problem()));
    auto bigPage = s.ok(QStringLiteral("state_list"),
                        R"({"prefix":"pipe/","cursor":)" + firstPage->text("next_cursor") + "}");
    QVERIFY2(bigPage, qPrintable(s.problem()));
    QCOMPARE(bigPage->count("keys"), 1000);
    QVERIFY(bigPage->has("next_cursor"));
    QCOMPARE(bigPage->str("keys.0"), list->str("keys.10"));
    auto health = s.ok(QStringLiteral("sidecar_health"), "{}");
    QVERIFY2(health, qPrintable(s.problem()));
    CHECK_FIELD(*health, "key_count", QByteArray::number(n));
}

void TestStdioServer::everyRequestAnsweredOnceWithItsId()
{
    // Answers may come in any order; each request gets exactly one, carrying its id as sent.
    SidecarClient s;
    QVERIFY2(s.start(), qPrintable(s.problem()));
    const QList<QByteArray> ids = {"0",
                                   "-7",
                                   "1.5",
                                   "1e2",
                                   "9007199254740993",
                                   R"("a")",
                                   R"("")",
                                   R"("\u00e9t\u00e9")",
                                   R"("with space")",
                                   R"("42")"};
    QByteArray all;
    int i = 0;
    for (const QByteArray &id : ids) {
        switch (i++ % 5) {
        case 0: all += rpc(id, "ping"); break;
        case 1:
            all += toolCall(id, "state_set", R"({"key":"o)" + QByteArray::number(i) + R"(","value":1})");
            break;
        case 2: all += toolCall(id, "state_get", R"({"key":"o1"})"); break;
        case 3: all += toolCall(id, "no_such_tool", "{}"); break;
        case 4: all += rpc(id, "tools/list"); break;
        }
        all += '\n';
    }
    s.process().process().write(all);
    QMap<QByteArray, int> answered;
    for (const QByteArray &id : ids) {
        auto answer = s.process().waitFor(id);
        QVERIFY2(answer, QByteArray("no answer for id " + id).constData());
        ++answered[id];
    }
    QVERIFY(s.alive());
    QVERIFY2(s.process().takeUnclaimed().isEmpty(), "an answer came twice or with another id");
    QCOMPARE(answered.size(), ids.size());
}

void TestStdioServer::batchesOnlyIn20250326()
{
    const QByteArray batch =
        R"([{"jsonrpc":"2.0","id":1,"method":"ping"},)"
        R"({"jsonrpc":"2.0","method":"notifications/initialized"},)"
        R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"state_set","arguments":{"key":"b","value":1}}},)"
        R"({"jsonrpc":"2.0","id":3,"method":"nope"}])";
    for (const QByteArray &version :
         {QByteArray("2025-11-25"), QByteArray("2025-06-18"), QByteArray("2025-03-26")}) {
        SidecarClient s;
        QVERIFY2(s.start({}, {}, version), qPrintable(s.problem()));
        s.process().sendLine(batch);
        auto answer = s.process().nextLine();
        QVERIFY(answer);
        if (version != "2025-03-26") {
            QVERIFY2(answer->root().isObject(), answer->root().compact().constData());
            QCOMPARE(rpcErrorCode(*answer), -32600);
            QCOMPARE(answerId(*answer), QByteArray("null"));
            continue;
        }
        // One array with an answer per request (none for the notification).
        QVERIFY2(answer->root().isArray(), answer->root().compact().constData());
        QCOMPARE(answer->root().items().size(), std::size_t(3));
        QSet<QByteArray> ids;
        for (const json::Value &a : answer->root().items())
            ids.insert(a.find("id")->compact());
        QCOMPARE(ids, (QSet<QByteArray>{"1", "2", "3"}));
        auto got = s.ok(QStringLiteral("state_get"), R"({"key":"b"})");
        QVERIFY2(got, qPrintable(s.problem()));
        CHECK_FIELD(*got, "found", "true");
    }
}

// ---------------------------------------------------------------- shutdown and durability

void TestStdioServer::endOfInputAnswersEverythingAndExits()
{
    const QString db = freshDbPath();
    {
        SidecarClient s;
        QVERIFY2(s.start({}, db), qPrintable(s.problem()));
        QByteArray all;
        for (int i = 0; i < 300; ++i)
            all += toolCall(QByteArray::number(10000 + i), "state_set",
                            R"({"key":"eof/)" + QByteArray::number(i) + R"(","value":)"
                                + QByteArray::number(i) + "}")
                   + '\n';
        s.process().process().write(all);
        s.process().closeInput();
        QVERIFY2(s.process().waitForExit(60000), "the server must exit at the end of its input");
        QCOMPARE(s.process().process().exitStatus(), QProcess::NormalExit);
        QCOMPARE(s.process().process().exitCode(), 0);
        QSet<QByteArray> answered;
        for (const QByteArray &line : s.process().takeUnclaimed()) {
            auto doc = json::parse(line);
            QVERIFY2(doc, line.constData());
            const json::Value *sc = structured(*doc);
            QVERIFY2(sc && sc->find("ok")->toBool(), line.constData());
            answered.insert(answerId(*doc));
        }
        QCOMPARE(answered.size(), 300);
    }
    // A last line without a newline still counts.
    {
        ServerProcess p;
        QVERIFY(p.start({QStringLiteral("--db-path"), db}));
        QVERIFY(p.initialize());
        p.process().write(toolCall("\"last\"", "state_set", R"({"key":"eof/no-newline","value":true})"));
        p.closeInput();
        QVERIFY(p.waitForExit(60000));
        QCOMPARE(p.process().exitCode(), 0);
        auto last = p.waitFor("\"last\"", 1000);
        QVERIFY2(last && structured(*last), "a final line without a newline must be answered");
    }
    SidecarClient again;
    QVERIFY2(again.start({}, db), qPrintable(again.problem()));
    auto list = again.ok(QStringLiteral("state_list"), R"({"prefix":"eof/"})");
    QVERIFY2(list, qPrintable(again.problem()));
    QCOMPARE(list->count("keys"), 301);
}

void TestStdioServer::sigtermExitsCleanlyKeepingAcknowledgedWrites()
{
    const QString db = freshDbPath();
    QSet<QString> acknowledged;
    {
        SidecarClient s;
        QVERIFY2(s.start({}, db), qPrintable(s.problem()));
        QByteArray all;
        for (int i = 0; i < 1000; ++i)
            all += toolCall(QByteArray::number(i), "state_set",
                            R"({"key":"term/)" + QByteArray::number(i) + R"(","value":)"
                                + QByteArray::number(i) + "}")
                   + '\n';
        s.process().process().write(all);
        auto first = s.process().waitFor("0");
        QVERIFY(first);
        acknowledged.insert(QStringLiteral("term/0"));
        s.process().terminate();
        QVERIFY2(s.process().waitForExit(30000), "SIGTERM must stop the server");
        QCOMPARE(s.process().process().exitStatus(), QProcess::NormalExit);
        QCOMPARE(s.process().process().exitCode(), 0);
        for (const QByteArray &line : s.process().takeUnclaimed()) {
            auto doc = json::parse(line);
            QVERIFY2(doc, line.constData());
            QVERIFY2(doc->root().find("jsonrpc"), line.constData());
            const json::Value *sc = structured(*doc);
            if (sc && sc->find("ok") && sc->find("ok")->toBool())
                acknowledged.insert(QStringLiteral("term/") + QString::fromUtf8(answerId(*doc)));
        }
    }
    SidecarClient again;
    QVERIFY2(again.start({}, db), qPrintable(again.problem()));
    auto list = again.ok(QStringLiteral("state_list"), R"({"prefix":"term/"})");
    QVERIFY2(list, qPrintable(again.problem()));
    QSet<QString> stored;
    for (const json::Value &k : list->get("keys")->items())
        stored.insert(k.toQString());
    for (const QString &key : acknowledged)
        QVERIFY2(stored.contains(key), qPrintable(key + QStringLiteral(" was acknowledged but is lost")));

    // An idle server stops on SIGTERM too.
    again.process().terminate();
    QVERIFY(again.process().waitForExit(30000));
    QCOMPARE(again.process().process().exitStatus(), QProcess::NormalExit);
    QCOMPARE(again.process().process().exitCode(), 0);
}

void TestStdioServer::acknowledgedWritesSurviveSigkill_data()
{
    QTest::addColumn<QString>("durability");
    QTest::newRow("full") << QStringLiteral("full");
    QTest::newRow("normal") << QStringLiteral("normal");
}

void TestStdioServer::acknowledgedWritesSurviveSigkill()
{
    // Both durabilities promise that an answered write survives a crash of the process: an
    // answer must never come before its commit.
    QFETCH(QString, durability);
    const QString db = freshDbPath();
    QSet<QString> acknowledged;
    {
        SidecarClient s;
        QVERIFY2(s.start({QStringLiteral("--durability"), durability}, db), qPrintable(s.problem()));
        QByteArray all;
        for (int i = 0; i < 2000; ++i)
            all += toolCall(QByteArray::number(i), "state_set",
                            R"({"key":"kill/)" + QByteArray::number(i) + R"(","value":)"
                                + QByteArray::number(i) + "}")
                   + '\n';
        s.process().process().write(all);
        QList<QByteArray> lines;
        QDeadlineTimer deadline(60000);
        while (lines.size() < 200 && !deadline.hasExpired()) {
            s.process().pump(100);
            lines += s.process().takeUnclaimed();
        }
        QVERIFY2(lines.size() >= 200, "too few answers before the kill");
        s.process().process().kill(); // SIGKILL, writes still in flight
        s.process().waitForExit(30000);
        lines += s.process().takeUnclaimed();
        for (const QByteArray &line : lines) {
            auto doc = json::parse(line);
            QVERIFY2(doc, line.constData());
            const json::Value *sc = structured(*doc);
            if (sc && sc->find("ok") && sc->find("ok")->toBool())
                acknowledged.insert(QStringLiteral("kill/") + QString::fromUtf8(answerId(*doc)));
        }
    }
    SidecarClient again;
    QVERIFY2(again.start({}, db), qPrintable(again.problem()));
    auto list = again.ok(QStringLiteral("state_list"), R"({"prefix":"kill/","limit":10000})");
    QVERIFY2(list, qPrintable(again.problem()));
    QSet<QString> stored;
    for (const json::Value &k : list->get("keys")->items())
        stored.insert(k.toQString());
    qInfo() << acknowledged.size() << "writes acknowledged before the kill," << stored.size() << "stored";
    for (const QString &key : std::as_const(acknowledged))
        QVERIFY2(stored.contains(key), qPrintable(key + QStringLiteral(" was acknowledged but is lost")));
    // History and data agree after the crash: one set per stored key.
    auto history = again.ok(QStringLiteral("history_log"), R"({"prefix":"kill/","n":1000})");
    QVERIFY2(history, qPrintable(again.problem()));
    QCOMPARE(history->integer("total"), qMin<qint64>(stored.size(), 1000));
}

void TestStdioServer::restartKeepsEverything()
{
    const QString db = freshDbPath();
    QByteArray run;
    qint64 fence = 0;
    qint64 revision = 0;
    {
        SidecarClient s;
        QVERIFY2(s.start({}, db), qPrintable(s.problem()));
        QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"k","value":{"b":1,"a":12345678901234567890}})"));
        QVERIFY(s.ok(QStringLiteral("state_set"), R"({"key":"ttl","value":1,"ttl_seconds":3600})"));
        auto created = s.ok(QStringLiteral("workflow_create"),
                            R"({"name":"w","tags":{"t":"1"},"input":[1]})");
        QVERIFY2(created, qPrintable(s.problem()));
        run = quoted(created->str("run_id"));
        auto claim = s.ok(QStringLiteral("workflow_claim"),
                          R"({"run_id":)" + run + R"(,"agent_id":"a","ttl_seconds":3600})");
        QVERIFY2(claim, qPrintable(s.problem()));
        fence = claim->integer("fence");
        QVERIFY(s.ok(QStringLiteral("workflow_checkpoint"),
                     R"({"run_id":)" + run + R"(,"step":3,"output":"three"})"));
        QVERIFY(s.ok(QStringLiteral("lease_acquire"),
                     R"({"resource_id":"r","holder_id":"h","ttl_seconds":3600})"));
        auto last = s.ok(QStringLiteral("session_save"), R"({"session_id":"s","context":{"x":[1.0]}})");
        QVERIFY2(last, qPrintable(s.problem()));
        revision = last->integer("revision");
        s.process().closeInput();
        QVERIFY(s.process().waitForExit(30000));
        QCOMPARE(s.process().process().exitCode(), 0);
    }
    SidecarClient s;
    QVERIFY2(s.start({}, db), qPrintable(s.problem()));
    auto k = s.ok(QStringLiteral("state_get"), R"({"key":"k"})");
    QVERIFY2(k, qPrintable(s.problem()));
    CHECK_FIELD(*k, "value", R"({"b":1,"a":12345678901234567890})");
    auto ttl = s.ok(QStringLiteral("state_get"), R"({"key":"ttl"})");
    QVERIFY2(ttl, qPrintable(s.problem()));
    QVERIFY(ttl->number("expires_at") > nowSeconds() + 3000);
    auto resume = s.ok(QStringLiteral("workflow_resume"), R"({"run_id":)" + run + "}");
    QVERIFY2(resume, qPrintable(s.problem()));
    CHECK_FIELD(*resume, "step_outputs", R"({"3":"three"})");
    CHECK_FIELD(*resume, "meta.status", "\"running\"");
    CHECK_FIELD(*resume, "meta.agent_id", "\"a\"");
    CHECK_FIELD(*resume, "meta.input", "[1]");
    CHECK_FIELD(*resume, "meta.tags", R"({"t":"1"})");
    QCOMPARE(resume->integer("meta.fence"), fence);
    auto lease = s.ok(QStringLiteral("lease_acquire"),
                      R"({"resource_id":"r","holder_id":"other","ttl_seconds":60})");
    QVERIFY2(lease, qPrintable(s.problem()));
    CHECK_FIELD(*lease, "acquired", "false");
    CHECK_FIELD(*lease, "reason", R"("Held by 'h'")");
    auto session = s.ok(QStringLiteral("session_restore"), R"({"session_id":"s"})");
    QVERIFY2(session, qPrintable(s.problem()));
    CHECK_FIELD(*session, "context", R"({"x":[1.0]})");
    // The revision goes on from where it was.
    auto next = s.ok(QStringLiteral("state_set"), R"({"key":"after","value":1})");
    QVERIFY2(next, qPrintable(s.problem()));
    QVERIFY(next->integer("revision") > revision);
    auto history = s.ok(QStringLiteral("history_log"), R"({"n":1000})");
    QVERIFY2(history, qPrintable(s.problem()));
    QVERIFY(history->integer("total") >= 8);
}

void TestStdioServer::stdoutCarriesOnlyJsonRpc()
{
    // Everything the server writes on stdout, byte for byte, with debug logging on: successes,
    // tool errors, JSON-RPC errors and garbage in between.
    const QString db = freshDbPath();
    QProcess p;
    p.start(qEnvironmentVariable("SIDECAR_BIN"),
            {QStringLiteral("--db-path"), db, QStringLiteral("--log-level"), QStringLiteral("debug")});
    QVERIFY(p.waitForStarted(10000));
    p.write(
        rpc("1", "initialize",
            R"({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}})")
        + "\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
        + toolCall("2", "state_set", R"({"key":"k","value":1})") + '\n'
        + toolCall("3", "state_get", R"({"key":"k"})") + "\nnot json\n" + rpc("4", "tools/list") + '\n'
        + toolCall("5", "state_set", R"({"key":5})") + '\n'
        + toolCall("6", "workflow_create", R"({"name":"w"})") + '\n' + rpc("7", "nope") + '\n');
    p.closeWriteChannel();
    QVERIFY(p.waitForFinished(30000));
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QCOMPARE(p.exitCode(), 0);
    const QByteArray out = p.readAllStandardOutput();
    QVERIFY2(out.endsWith('\n'), "every message ends with a newline");
    QList<QByteArray> lines = out.split('\n');
    lines.removeLast();
    QCOMPARE(lines.size(), 8);
    for (const QByteArray &line : lines) {
        auto doc = json::parse(line);
        QVERIFY2(doc && doc->root().isObject(), line.left(300).constData());
        QVERIFY2(doc->root().find("jsonrpc") && doc->root().find("jsonrpc")->compact() == "\"2.0\"",
                 line.left(300).constData());
    }
    const QByteArray err = p.readAllStandardError();
    QVERIFY2(!err.isEmpty(), "logs go to stderr");
    QVERIFY2(err.contains(QFileInfo(db).absoluteFilePath().toUtf8()),
             "the database's absolute path is logged at start");
}

void TestStdioServer::sigtermWhileTheClientStopsReading()
{
    // A host that stopped reading the server's stdout (its pipe full: hung, or busy) must still
    // be able to stop the server with SIGTERM. The pipe is ours, so we can see it is full.
    int fds[2];
    QVERIFY(::pipe2(fds, O_CLOEXEC) == 0);
    const int capacity = ::fcntl(fds[0], F_GETPIPE_SZ);
    QVERIFY(capacity > 0);
    QProcess server;
    // QProcess opens this path in the parent: a second descriptor for our pipe's write end.
    server.setStandardOutputFile(QStringLiteral("/proc/self/fd/%1").arg(fds[1]), QIODevice::Append);
    server.start(qEnvironmentVariable("SIDECAR_BIN"), {QStringLiteral("--db-path"), freshDbPath()});
    QVERIFY(server.waitForStarted(10000));
    ::close(fds[1]);
    QByteArray input =
        rpc("0", "initialize",
            R"({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}})")
        + '\n';
    for (int i = 1; i <= 300; ++i) // ~6 MB of answers, far more than a pipe holds
        input += rpc(QByteArray::number(i), "tools/list") + '\n';
    server.write(input);
    QVERIFY(server.waitForBytesWritten(30000));
    auto full = [&] {
        int queued = 0;
        return ::ioctl(fds[0], FIONREAD, &queued) == 0 && queued >= capacity;
    };
    QTRY_VERIFY_WITH_TIMEOUT(full(), 15000);
    ::kill(pid_t(server.processId()), SIGTERM);
    const bool stopped = server.waitForFinished(20000); // the daemon's own grace period is 10 s
    if (!stopped) {
        server.kill();
        server.waitForFinished(5000);
    }
    ::close(fds[0]);
    QVERIFY2(stopped, "still running 20 s after SIGTERM");
    QCOMPARE(server.exitStatus(), QProcess::NormalExit);
    QCOMPARE(server.exitCode(), 0);
}

QTEST_GUILESS_MAIN(TestStdioServer)
#include "tst_stdioserver.moc"
