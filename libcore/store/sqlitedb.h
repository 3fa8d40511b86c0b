#pragma once

// Thin helpers over QtSql for the SQLite backend: a connection confined to one thread with a
// cache of prepared statements, a statement handle that always finish()es, and the mapping of
// SQLite failures to the contract's error codes.
//
// Why a wrapper: QtSql's traps are easy to fall into (docs/decisions.md): a query not
// read to the end blocks COMMIT, std::int64_t (long) binds as TEXT, REAL may come back through
// text with 15 digits, and QSqlQuery runs one statement at a time. Everything here exists to
// make those mistakes impossible at the call sites.
//
// QtSql opens the connection (QSQLITE, with its busy timeout) and runs the rare unprepared
// statements (exec(QString): DDL, scripts); prepared statements (query(), run(), exec(const
// char *)) run on the driver's own sqlite3 handle through the SQLite C API. Per statement,
// QSqlQuery cost several times what SQLite itself does (bind names formatted as ":%1" and
// hashed, column names and types converted and lower-cased at every exec, every value through
// UTF-16 and QVariant): over half of the CPU of a state_get. Values bind and read back exactly
// as QSQLITE binds and reads them (the same SQLite types; see Statement and bind()).
//
// Thread: a Connection belongs to the thread that constructed it (Qt's rule for QSqlDatabase);
// nothing here is shared across threads.

#include <QByteArray>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QString>
#include <QStringList>
#include <QVariant>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

#include "protocol/result.h"

namespace sidecar::store::sqlite {

// Unix epoch seconds with microsecond resolution.
double nowSeconds();

// How long a connection waits for another process's write transaction (QSQLITE_BUSY_TIMEOUT).
inline constexpr int kBusyTimeoutMs = 10000;

// Values as bound parameters. Every QString binds as TEXT (a null QString binds as '' rather
// than NULL: absence is spelled std::nullopt), QByteArray holds UTF-8 JSON text and binds as
// TEXT too, integers bind as 64-bit, std::nullopt as NULL.
QVariant bindable(const QString &s);
QVariant bindable(const QByteArray &utf8);
inline QVariant bindable(const char *latin1) { return bindable(QString::fromLatin1(latin1)); }
inline QVariant bindable(int v) { return QVariant(qlonglong(v)); }
inline QVariant bindable(long v) { return QVariant(qlonglong(v)); }
inline QVariant bindable(long long v) { return QVariant(qlonglong(v)); }
inline QVariant bindable(double v) { return QVariant(v); }
inline QVariant bindable(bool v) { return QVariant(qlonglong(v ? 1 : 0)); }
inline QVariant bindable(std::nullopt_t) { return QVariant(); }
inline QVariant bindable(const QVariant &v) { return v; }
template<class T>
QVariant bindable(const std::optional<T> &v)
{
    return v ? bindable(*v) : QVariant();
}

struct CachedQuery;

// One executed statement. Read rows with next() and the typed getters; the destructor resets
// the statement so that none stays "in progress" (which would block COMMIT). As with QSqlQuery,
// the statement has already taken its first step when query() returns (a statement that
// returns no rows has run to the end, and its failure is query()'s).
class Statement
{
public:
    Statement() = default;
    Statement(Statement &&other) noexcept;
    Statement &operator=(Statement &&other) noexcept;
    Statement(const Statement &) = delete;
    Statement &operator=(const Statement &) = delete;
    ~Statement();

    bool next();
    QVariant value(int i) const;
    bool isNull(int i) const;
    qint64 int64(int i) const;
    double real(int i) const;
    QString text(int i) const;
    // TEXT column holding UTF-8 JSON text.
    QByteArray json(int i) const;
    std::optional<qint64> optInt64(int i) const;
    std::optional<double> optReal(int i) const;
    std::optional<QString> optText(int i) const;
    std::optional<QByteArray> optJson(int i) const;
    int rowsAffected() const;
    // Releases the statement early (the destructor does it otherwise).
    void finish();

private:
    friend class Connection;
    Statement(sqlite3_stmt *stmt, CachedQuery *cached, bool hasRow);
    // The column as QSQLITE would have handed it to QSqlQuery::value() (the fallback of the
    // typed getters for the unusual storage classes, so that conversions stay Qt's).
    QVariant variant(int i) const;
    sqlite3_stmt *m_stmt = nullptr;
    CachedQuery *m_cached = nullptr; // marks the cache entry busy while alive; null: ours to finalize
    bool m_pendingRow = false;       // the first row, stepped by query(), not yet taken by next()
    bool m_onRow = false;            // positioned on a row
};

// A QSqlDatabase connection (QSQLITE) opened and used in one thread.
class Connection
{
public:
    explicit Connection(QString name);
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    // Opens `path` with a busy timeout (QSQLITE_BUSY_TIMEOUT) so that several processes can
    // share the file; readOnly adds PRAGMA query_only.
    Result<void> open(const QString &path, int busyTimeoutMs, bool readOnly = false);
    void close();
    bool isOpen() const { return m_db.isOpen(); }
    const QString &path() const { return m_path; }

    // Runs one statement that returns no rows worth keeping (DDL, PRAGMA x=y), unprepared.
    Result<void> exec(const QString &sql);
    // The same for a fixed statement run often (BEGIN IMMEDIATE, SAVEPOINT, COMMIT): prepared
    // once and kept in the cache.
    Result<void> exec(const char *sql);
    // Prepares (once per connection and SQL text), binds and executes one statement.
    Result<Statement> query(const QString &sql, const QVariantList &binds = {});
    template<class... A>
    Result<Statement> run(const char *sql, const A &...args)
    {
        return queryUtf8(sql, QVariantList{bindable(args)...});
    }
    // First column of the first row, or `fallback` when there is no row or it is NULL.
    Result<qint64> scalar(const QString &sql, const QVariantList &binds = {}, qint64 fallback = 0);

    // Splits a script into statements (outside quotes and comments) and runs each.
    Result<void> execScript(const QString &script);

    // Whether the last failure was SQLITE_BUSY / SQLITE_LOCKED (worth retrying).
    bool lastErrorWasBusy() const { return m_lastBusy; }
    QSqlDatabase &database() { return m_db; }

private:
    Result<Statement> queryUtf8(std::string_view sql, const QVariantList &binds);
    Error toError(const QSqlError &error, const QString &sql);
    // A failure of the C API, worded as QSQLITE words it ("<sqlite message> <what failed>").
    Error toError(int code, const char *what, std::string_view sql);
    // `code`: the primary SQLite result code; `text`: the message.
    Error makeError(int code, QString text, const QString &sql);

    // Prepared statements by SQL text (heterogeneous lookup: run("...") allocates no key).
    struct KeyHash
    {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    QString m_name;
    QString m_path;
    QSqlDatabase m_db;
    sqlite3 *m_handle = nullptr; // the QSQLITE driver's connection, valid while open
    std::unordered_map<std::string, CachedQuery *, KeyHash, std::equal_to<>> m_cache;
    bool m_lastBusy = false;
};

// Statements of an SQL script, split at top-level semicolons (quotes and comments respected).
QStringList splitSqlScript(const QString &script);

// Whether the database has a table of that name.
Result<bool> tableExists(Connection &db, const char *name);
// PRAGMA user_version: the schema version (0 for a new file or the original package's).
Result<int> userVersion(Connection &db);
// `stem` + `suffix`, or `stem`-2 + `suffix`, -3... the first name no file has yet.
QString unusedPath(const QString &stem, const QString &suffix = {});

// Creates `path` empty with mode 0600 when it does not exist yet, so that a database (and the
// -wal and -shm files, which SQLite creates with the database's mode) or a backup copy is
// readable by its owner alone whatever the umask. An existing file is left as it is.
Result<void> createPrivateFile(const QString &path);

// Writes a consistent copy of the open database into `path` with VACUUM INTO: one read
// transaction, whatever journal state the file is in, while other connections and processes go on
// writing. `path` must not exist: it is created private (0600, exclusively, so that two copies
// never share a file); the copy and its directory are fsync'ed before this returns, so that it
// survives a power loss. On failure the file it created is removed.
Result<void> copyDatabaseTo(Connection &db, const QString &path);

// The primary SQLite result code of a QtSql error (extended codes masked), or -1.
int sqliteCode(const QSqlError &error);

} // namespace sidecar::store::sqlite
