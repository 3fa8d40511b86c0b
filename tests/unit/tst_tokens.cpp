// Static bearer tokens: the tokens file's strict parsing (every kind of bad entry), nested scopes,
// the Authorization header's accepted shapes, the 401 challenge, reload() keeping the old set on a
// bad file, and no token ever reaching a log line.

#include <QFile>
#include <QSignalSpy>
#include <QtTest>

#include <optional>

#include "testutil.h"
#include "transport/tokens.h"

using namespace Qt::StringLiterals;
using sidecar::ErrorCode;
using sidecar::http::TokenAuthority;
using sidecar::http::TokenStore;
using sidecar::protocol::CallContext;
using sidecar::protocol::Scope;

Q_DECLARE_METATYPE(Scope)

namespace {

// Plain tokens of the test and their hashes, as an operator would make them.
const QByteArray kAliceToken = "alice-s3cret-token_0123456789";
const QByteArray kBobToken = "bob.Token~+/=";
const QByteArray kCarolToken = "carol-admin-token";

QByteArray hashOf(const QByteArray &token)
{
    return sidecar::http::tokenHash(token);
}

QByteArray bearer(const QByteArray &token)
{
    return "Bearer " + token;
}

// The principal a header authenticates as, or "<refused>".
QString who(const std::optional<CallContext> &ctx)
{
    return ctx ? ctx->principal : u"<refused>"_s;
}

std::optional<Scope> scopeOf(const std::optional<CallContext> &ctx)
{
    return ctx ? std::optional<Scope>(ctx->scope) : std::nullopt;
}

// A tokens file with alice (read), bob (write) and carol (admin).
QByteArray threeTokens()
{
    return R"({"tokens":[
        {"name":"alice","sha256":")"
           + hashOf(kAliceToken) + R"(","scopes":["read"]},
        {"name":"bob","sha256":")"
           + hashOf(kBobToken) + R"(","scopes":["read","write"]},
        {"name":"carol","sha256":")"
           + hashOf(kCarolToken).toUpper() + R"(","scopes":["admin"]}
    ]})";
}

bool writeFile(const QString &path, const QByteArray &content)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return false;
    return file.write(content) == content.size();
}

// Every message logged while it lives.
class LogCapture
{
public:
    LogCapture()
    {
        s_lines = &m_lines;
        m_previous = qInstallMessageHandler(&LogCapture::handler);
    }
    ~LogCapture()
    {
        qInstallMessageHandler(m_previous);
        s_lines = nullptr;
    }
    const QStringList &lines() const { return m_lines; }

private:
    static void handler(QtMsgType, const QMessageLogContext &, const QString &message)
    {
        if (s_lines)
            s_lines->append(message);
    }
    static inline QStringList *s_lines = nullptr;
    QStringList m_lines;
    QtMessageHandler m_previous = nullptr;
};

} // namespace

class TestTokens : public QObject
{
    Q_OBJECT
private slots:
    void tokenHash();
    void parsesValidFile();
    void emptyListAuthenticatesNobody();
    void rejectsBadFile_data();
    void rejectsBadFile();
    void badHashIsNotEchoed();
    void loadNamesMissingFile();
    void scopesNest_data();
    void scopesNest();
    void authenticate_data();
    void authenticate();
    void challenge();
    void isBearerCredential_data();
    void isBearerCredential();
    void authorityDisabledGrantsEverything();
    void authorityBeforeFirstLoadRefuses();
    void reloadReplacesSet();
    void reloadKeepsOldSetOnBadFile();
    void tokensNeverLogged();
};

void TestTokens::tokenHash()
{
    // printf %s "" | sha256sum; printf %s abc | sha256sum
    QCOMPARE(sidecar::http::tokenHash(""),
             QByteArray("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    QCOMPARE(sidecar::http::tokenHash("abc"),
             QByteArray("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

void TestTokens::parsesValidFile()
{
    const auto store = TokenStore::parse(threeTokens(), u"tokens file t"_s);
    QVERIFY2(store, qPrintable(sidecar::test::describe(store)));
    QCOMPARE(store->entries().size(), std::size_t(3));
    QCOMPARE(store->entries()[0].name, u"alice"_s);
    QCOMPARE(store->entries()[0].sha256, QByteArray::fromHex(hashOf(kAliceToken)));
    QCOMPARE(store->entries()[2].scope, Scope::Admin); // upper-case hex accepted
}

void TestTokens::emptyListAuthenticatesNobody()
{
    const auto store = TokenStore::parse(R"({"tokens":[]})", u"t"_s);
    QVERIFY2(store, qPrintable(sidecar::test::describe(store)));
    QVERIFY(store->isEmpty());
    QVERIFY(!store->authenticate(bearer(kAliceToken)));
    QVERIFY(!store->authenticate("Bearer x"));
    QVERIFY(!TokenStore().authenticate("Bearer x"));
}

void TestTokens::rejectsBadFile_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("expected"); // a part of the message

    const QByteArray h = hashOf(kAliceToken);
    const QByteArray h2 = hashOf(kBobToken);
    const auto one = [](const QByteArray &entry) -> QByteArray { return R"({"tokens":[)" + entry + "]}"; };

    QTest::newRow("empty file") << QByteArray() << u"origin: not JSON"_s;
    QTest::newRow("not JSON") << QByteArray("{\"tokens\": [") << u"origin: not JSON"_s;
    QTest::newRow("trailing garbage") << QByteArray(R"({"tokens":[]} x)") << u"not JSON"_s;
    QTest::newRow("root array") << QByteArray("[]") << u"expected an object"_s;
    QTest::newRow("missing tokens") << QByteArray("{}") << u"missing \"tokens\""_s;
    QTest::newRow("tokens not array") << QByteArray(R"({"tokens":{}})") << u"\"tokens\" must be an array"_s;
    QTest::newRow("unknown top key") << QByteArray(R"({"tokens":[],"version":1})")
                                     << u"unknown key \"version\""_s;
    QTest::newRow("duplicate top key") << QByteArray(R"({"tokens":[],"tokens":[]})") << u"appears twice"_s;
    QTest::newRow("entry not object") << one("1") << u"entry 1: must be an object"_s;
    QTest::newRow("missing name") << one(R"({"sha256":")" + h + R"(","scopes":["read"]})")
                                  << u"entry 1: missing \"name\""_s;
    QTest::newRow("name not string") << one(R"({"name":7,"sha256":")" + h + R"(","scopes":["read"]})")
                                     << u"entry 1: \"name\" must be a non-empty string"_s;
    QTest::newRow("empty name") << one(R"({"name":"","sha256":")" + h + R"(","scopes":["read"]})")
                                << u"entry 1: \"name\" must be a non-empty string"_s;
    QTest::newRow("name too long") << one(R"({"name":")" + QByteArray(513, 'n') + R"(","sha256":")" + h
                                          + R"(","scopes":["read"]})")
                                   << u"at most 512 bytes"_s;
    QTest::newRow("missing sha256") << one(R"({"name":"a","scopes":["read"]})")
                                    << u"entry 1 (\"a\"): missing \"sha256\""_s;
    QTest::newRow("sha256 not string") << one(R"({"name":"a","sha256":12,"scopes":["read"]})")
                                       << u"entry 1 (\"a\"): \"sha256\" must be 64 hex digits"_s;
    QTest::newRow("sha256 short") << one(R"({"name":"a","sha256":")" + h.left(63) + R"(","scopes":["read"]})")
                                  << u"\"sha256\" must be 64 hex digits"_s;
    QTest::newRow("sha256 long") << one(R"({"name":"a","sha256":")" + h + R"(0","scopes":["read"]})")
                                 << u"\"sha256\" must be 64 hex digits"_s;
    QTest::newRow("sha256 bad hex") << one(R"({"name":"a","sha256":")" + h.left(63)
                                           + R"(g","scopes":["read"]})")
                                    << u"\"sha256\" must be 64 hex digits"_s;
    QTest::newRow("sha256 with spaces")
        << one(R"({"name":"a","sha256":" )" + h.left(62) + R"( ","scopes":["read"]})")
        << u"\"sha256\" must be 64 hex digits"_s;
    QTest::newRow("missing scopes") << one(R"({"name":"a","sha256":")" + h + R"("})")
                                    << u"entry 1 (\"a\"): missing \"scopes\""_s;
    QTest::newRow("scopes not array") << one(R"({"name":"a","sha256":")" + h + R"(","scopes":"read"})")
                                      << u"\"scopes\" must be a non-empty array"_s;
    QTest::newRow("scopes empty") << one(R"({"name":"a","sha256":")" + h + R"(","scopes":[]})")
                                  << u"\"scopes\" must be a non-empty array"_s;
    QTest::newRow("unknown scope") << one(R"({"name":"a","sha256":")" + h + R"(","scopes":["read","root"]})")
                                   << u"entry 1 (\"a\"): unknown scope \"root\""_s;
    QTest::newRow("scope in capitals")
        << one(R"({"name":"a","sha256":")" + h + R"(","scopes":["Read"]})") << u"unknown scope \"Read\""_s;
    QTest::newRow("scope not string")
        << one(R"({"name":"a","sha256":")" + h + R"(","scopes":[3]})") << u"unknown scope 3"_s;
    QTest::newRow("unknown entry key")
        << one(R"({"name":"a","sha256":")" + h + R"(","scopes":["read"],"note":1})")
        << u"entry 1 (\"a\"): unknown key \"note\""_s;
    QTest::newRow("plain token key") << one(R"({"name":"a","token":"x","sha256":")" + h
                                            + R"(","scopes":["read"]})")
                                     << u"\"token\" is not allowed"_s;
    QTest::newRow("duplicate entry key")
        << one(R"({"name":"a","sha256":")" + h + R"(","scopes":["read"],"scopes":["admin"]})")
        << u"entry 1 (\"a\"): a key appears twice"_s;
    QTest::newRow("duplicate names") << one(
        R"({"name":"a","sha256":")" + h + R"(","scopes":["read"]},{"name":"a","sha256":")" + h2
        + R"(","scopes":["read"]})") << u"entry 2 (\"a\"): the name is also used by entry 1"_s;
    QTest::newRow("duplicate hashes")
        << one(R"({"name":"a","sha256":")" + h + R"(","scopes":["read"]},{"name":"b","sha256":")"
               + h.toUpper() + R"(","scopes":["admin"]})")
        << u"entry 2 (\"b\"): the same token hash as entry 1 (\"a\")"_s;
    QTest::newRow("second entry bad")
        << one(R"({"name":"a","sha256":")" + h + R"(","scopes":["read"]},{"name":"b","sha256":")" + h2
               + R"(","scopes":["rw"]})")
        << u"entry 2 (\"b\"): unknown scope \"rw\""_s;
}

void TestTokens::rejectsBadFile()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, expected);
    const auto store = TokenStore::parse(text, u"origin"_s);
    QVERIFY2(!store, "accepted");
    QCOMPARE(store.error().code, ErrorCode::InvalidArgument);
    QVERIFY2(store.error().message.startsWith(u"origin: "_s), qPrintable(store.error().message));
    QVERIFY2(store.error().message.contains(expected), qPrintable(store.error().message));
}

void TestTokens::badHashIsNotEchoed()
{
    // An operator who pastes the plain token where its hash belongs must not find it in the logs.
    const QByteArray text = R"({"tokens":[{"name":"a","sha256":")" + kAliceToken
                            + R"(","scopes":["read"]}]})";
    const auto store = TokenStore::parse(text, u"t"_s);
    QVERIFY(!store);
    QVERIFY2(!store.error().message.contains(QString::fromLatin1(kAliceToken)),
             qPrintable(store.error().message));
}

void TestTokens::loadNamesMissingFile()
{
    sidecar::test::TempDir dir;
    const QString path = dir.file(u"absent.json"_s);
    const auto missing = TokenStore::load(path);
    QVERIFY(!missing);
    QCOMPARE(missing.error().code, ErrorCode::NotFound);
    QVERIFY2(missing.error().message.contains(path), qPrintable(missing.error().message));

    QVERIFY(writeFile(path, threeTokens()));
    const auto loaded = TokenStore::load(path);
    QVERIFY2(loaded, qPrintable(sidecar::test::describe(loaded)));
    QCOMPARE(loaded->entries().size(), std::size_t(3));

    QVERIFY(writeFile(path, "{"));
    const auto bad = TokenStore::load(path);
    QVERIFY(!bad);
    QVERIFY2(bad.error().message.startsWith(u"tokens file "_s + path + u": not JSON"_s),
             qPrintable(bad.error().message));
}

void TestTokens::scopesNest_data()
{
    QTest::addColumn<QByteArray>("scopes");
    QTest::addColumn<Scope>("expected");
    QTest::newRow("read") << QByteArray(R"(["read"])") << Scope::Read;
    QTest::newRow("write") << QByteArray(R"(["write"])") << Scope::Write;
    QTest::newRow("admin") << QByteArray(R"(["admin"])") << Scope::Admin;
    QTest::newRow("read+write") << QByteArray(R"(["read","write"])") << Scope::Write;
    QTest::newRow("admin first") << QByteArray(R"(["admin","read"])") << Scope::Admin;
    QTest::newRow("write+admin+read") << QByteArray(R"(["write","admin","read"])") << Scope::Admin;
    QTest::newRow("repeated") << QByteArray(R"(["read","read"])") << Scope::Read;
}

void TestTokens::scopesNest()
{
    QFETCH(QByteArray, scopes);
    QFETCH(Scope, expected);
    const QByteArray text = R"({"tokens":[{"name":"n","sha256":")" + hashOf(kAliceToken) + R"(","scopes":)"
                            + scopes + "}]}";
    const auto store = TokenStore::parse(text, u"t"_s);
    QVERIFY2(store, qPrintable(sidecar::test::describe(store)));
    QCOMPARE(store->entries().at(0).scope, expected);
    const std::optional<CallContext> ctx = store->authenticate(bearer(kAliceToken));
    QVERIFY(ctx);
    QCOMPARE(ctx->scope, expected);
}

void TestTokens::authenticate_data()
{
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<QString>("principal"); // empty: refused
    QTest::addColumn<Scope>("scope");

    QTest::newRow("alice") << QByteArray("Bearer " + kAliceToken) << u"alice"_s << Scope::Read;
    QTest::newRow("bob") << QByteArray("Bearer " + kBobToken) << u"bob"_s << Scope::Write;
    QTest::newRow("carol (hash in upper case)")
        << QByteArray("Bearer " + kCarolToken) << u"carol"_s << Scope::Admin;
    QTest::newRow("lower-case scheme") << QByteArray("bearer " + kAliceToken) << u"alice"_s << Scope::Read;
    QTest::newRow("upper-case scheme") << QByteArray("BEARER " + kAliceToken) << u"alice"_s << Scope::Read;
    QTest::newRow("several spaces") << QByteArray("Bearer    " + kAliceToken) << u"alice"_s << Scope::Read;
    QTest::newRow("surrounding spaces")
        << QByteArray("  Bearer " + kAliceToken + "  ") << u"alice"_s << Scope::Read;

    QTest::newRow("missing") << QByteArray() << QString() << Scope::Read;
    QTest::newRow("scheme only") << QByteArray("Bearer") << QString() << Scope::Read;
    QTest::newRow("scheme and space") << QByteArray("Bearer ") << QString() << Scope::Read;
    QTest::newRow("no space") << QByteArray("Bearer" + kAliceToken) << QString() << Scope::Read;
    QTest::newRow("tab") << QByteArray("Bearer\t" + kAliceToken) << QString() << Scope::Read;
    QTest::newRow("wrong scheme") << QByteArray("Basic " + kAliceToken) << QString() << Scope::Read;
    QTest::newRow("token scheme") << QByteArray("Token " + kAliceToken) << QString() << Scope::Read;
    QTest::newRow("token alone") << kAliceToken << QString() << Scope::Read;
    QTest::newRow("wrong token") << QByteArray("Bearer not-a-token") << QString() << Scope::Read;
    QTest::newRow("token case differs")
        << QByteArray("Bearer " + kAliceToken.toUpper()) << QString() << Scope::Read;
    QTest::newRow("token prefix") << QByteArray("Bearer " + kAliceToken.chopped(1)) << QString()
                                  << Scope::Read;
    QTest::newRow("token longer") << QByteArray("Bearer " + kAliceToken + "x") << QString() << Scope::Read;
    QTest::newRow("two tokens") << QByteArray("Bearer " + kAliceToken + " " + kBobToken) << QString()
                                << Scope::Read;
    QTest::newRow("hash as token") << QByteArray("Bearer " + hashOf(kAliceToken)) << QString() << Scope::Read;
    QTest::newRow("control byte") << QByteArray("Bearer " + kAliceToken + "\x01") << QString() << Scope::Read;
}

void TestTokens::authenticate()
{
    QFETCH(QByteArray, header);
    QFETCH(QString, principal);
    QFETCH(Scope, scope);
    const auto store = TokenStore::parse(threeTokens(), u"t"_s);
    QVERIFY2(store, qPrintable(sidecar::test::describe(store)));
    const std::optional<CallContext> ctx = store->authenticate(header);
    if (principal.isEmpty()) {
        QVERIFY2(!ctx, ctx ? qPrintable(ctx->principal) : "");
        return;
    }
    QVERIFY(ctx);
    QCOMPARE(ctx->principal, principal);
    QCOMPARE(ctx->scope, scope);
}

void TestTokens::challenge()
{
    QCOMPARE(sidecar::http::bearerChallenge(false), QByteArray(R"(Bearer realm="mcp-state-sidecar")"));
    QCOMPARE(sidecar::http::bearerChallenge(true),
             QByteArray(R"(Bearer realm="mcp-state-sidecar", error="invalid_token")"));
}

void TestTokens::isBearerCredential_data()
{
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<bool>("bearer");
    QTest::newRow("bearer token") << QByteArray("Bearer abc") << true;
    QTest::newRow("lower case") << QByteArray("bearer abc") << true;
    QTest::newRow("scheme only") << QByteArray("Bearer") << true;
    QTest::newRow("empty") << QByteArray() << false;
    QTest::newRow("basic") << QByteArray("Basic abc") << false;
    QTest::newRow("bearerish") << QByteArray("Bearerabc") << false;
}

void TestTokens::isBearerCredential()
{
    QFETCH(QByteArray, header);
    QFETCH(bool, bearer);
    QCOMPARE(sidecar::http::isBearerCredential(header), bearer);
}

void TestTokens::authorityDisabledGrantsEverything()
{
    TokenAuthority authority;
    QVERIFY(!authority.enabled());
    QVERIFY(authority.reload());
    for (const QByteArray &header : {QByteArray(), QByteArray("Bearer nonsense"), QByteArray("Basic x")}) {
        const std::optional<CallContext> ctx = authority.authenticate(header);
        QVERIFY(ctx);
        QCOMPARE(ctx->principal, QString());
        QCOMPARE(ctx->scope, Scope::Admin);
    }
}

void TestTokens::authorityBeforeFirstLoadRefuses()
{
    sidecar::test::TempDir dir;
    TokenAuthority authority(dir.file(u"absent.json"_s));
    QVERIFY(authority.enabled());
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(u"absent\\.json: cannot be read.*keeping the 0 token"_s));
    const auto reloaded = authority.reload();
    QVERIFY(!reloaded);
    QCOMPARE(reloaded.error().code, ErrorCode::NotFound);
    QVERIFY(!authority.authenticate(bearer(kAliceToken)));
    QVERIFY(!authority.authenticate(QByteArray()));
}

void TestTokens::reloadReplacesSet()
{
    sidecar::test::TempDir dir;
    const QString path = dir.file(u"tokens.json"_s);
    QVERIFY(writeFile(path, threeTokens()));
    TokenAuthority authority(path);
    QSignalSpy spy(&authority, &TokenAuthority::reloaded);
    QVERIFY2(authority.reload(), "first load");
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).toInt(), 3);
    QCOMPARE(who(authority.authenticate(bearer(kAliceToken))), u"alice"_s);

    // alice revoked, bob promoted
    QVERIFY(writeFile(path, R"({"tokens":[{"name":"bob","sha256":")" + hashOf(kBobToken)
                                + R"(","scopes":["admin"]}]})"));
    QVERIFY2(authority.reload(), "second load");
    QCOMPARE(spy.count(), 2);
    QVERIFY(!authority.authenticate(bearer(kAliceToken)));
    QCOMPARE(scopeOf(authority.authenticate(bearer(kBobToken))), std::optional<Scope>(Scope::Admin));

    // An empty list is valid: nobody gets in, and the log says so.
    QVERIFY(writeFile(path, R"({"tokens":[]})"));
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(u"lists no tokens"_s));
    QVERIFY2(authority.reload(), "third load");
    QVERIFY(!authority.authenticate(bearer(kBobToken)));
}

void TestTokens::reloadKeepsOldSetOnBadFile()
{
    sidecar::test::TempDir dir;
    const QString path = dir.file(u"tokens.json"_s);
    QVERIFY(writeFile(path, threeTokens()));
    TokenAuthority authority(path);
    QVERIFY(authority.reload());
    QSignalSpy spy(&authority, &TokenAuthority::reloaded);

    const QList<QByteArray> badFiles = {
        "{\"tokens\": [",
        R"({"tokens":[{"name":"x","sha256":"00","scopes":["read"]}]})",
        R"({"tokens":[{"name":"x","sha256":")" + hashOf("x") + R"(","scopes":["superuser"]}]})",
    };
    for (const QByteArray &bad : badFiles) {
        QVERIFY(writeFile(path, bad));
        QTest::ignoreMessage(QtWarningMsg,
                             QRegularExpression(u"tokens\\.json: .*; keeping the 3 token\\(s\\) in force"_s));
        const auto reloaded = authority.reload();
        QVERIFY2(!reloaded, bad.constData());
        QCOMPARE(reloaded.error().code, ErrorCode::InvalidArgument);
        QCOMPARE(who(authority.authenticate(bearer(kAliceToken))), u"alice"_s);
        QCOMPARE(scopeOf(authority.authenticate(bearer(kCarolToken))), std::optional<Scope>(Scope::Admin));
        QVERIFY(!authority.authenticate("Bearer x"));
    }

    QVERIFY(QFile::remove(path));
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(u"cannot be read.*keeping the 3 token"_s));
    QVERIFY(!authority.reload());
    QCOMPARE(who(authority.authenticate(bearer(kBobToken))), u"bob"_s);
    QCOMPARE(spy.count(), 0);
}

void TestTokens::tokensNeverLogged()
{
    sidecar::test::TempDir dir;
    const QString path = dir.file(u"tokens.json"_s);
    QVERIFY(writeFile(path, threeTokens()));
    const QByteArray stranger = "stranger-danger-token";
    QStringList lines;
    {
        LogCapture capture;
        QLoggingCategory::setFilterRules(u"sidecar.*=true"_s);
        TokenAuthority authority(path);
        (void)authority.reload();
        (void)authority.authenticate(bearer(kAliceToken));
        (void)authority.authenticate(bearer(stranger));
        (void)authority.authenticate(QByteArray("Basic " + stranger));
        QVERIFY(
            writeFile(path, R"({"tokens":[{"name":"a","sha256":")" + stranger + R"(","scopes":["read"]}]})"));
        (void)authority.reload();
        QLoggingCategory::setFilterRules(QString());
        lines = capture.lines();
    }
    QVERIFY2(!lines.isEmpty(), "the reloads log something");
    for (const QString &line : std::as_const(lines)) {
        for (const QByteArray &secret : {kAliceToken, stranger}) {
            QVERIFY2(!line.contains(QString::fromLatin1(secret)), qPrintable(line));
        }
    }
}

QTEST_GUILESS_MAIN(TestTokens)
#include "tst_tokens.moc"
