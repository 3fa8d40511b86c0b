#include "sqlitedb.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <QFile>
#include <QFileInfo>
#include <QLatin1String>
#include <QRegularExpression>
#include <QSqlDriver>

#include <sqlite3.h>

namespace sidecar::store::sqlite {

struct CachedQuery
{
    sqlite3_stmt *stmt = nullptr;
    bool busy = false;
};

double nowSeconds()
{
    using namespace std::chrono;
    const auto us = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
    return double(us) / 1e6;
}

QVariant bindable(const QString &s)
{
    // QtSql binds a null QString as NULL: an empty key or id must stay ''.
    if (s.isNull())
        return QVariant(QString(QLatin1String("")));
    return QVariant(s);
}

QVariant bindable(const QByteArray &utf8)
{
    return bindable(QString::fromUtf8(utf8));
}

namespace {

// Binds one value the way QSQLITE does (qsql_sqlite.cpp, QSQLiteResult::exec): null values
// (QSqlResultPrivate::isVariantNull: no value, or a null string or byte array) as NULL, byte
// arrays as BLOB, integers as INTEGER, doubles as REAL, anything else as its text.
int bind(sqlite3_stmt *stmt, int index, const QVariant &value)
{
    switch (value.typeId()) {
    case QMetaType::UnknownType:
        return sqlite3_bind_null(stmt, index);
    case QMetaType::QString: {
        const QString *s = static_cast<const QString *>(value.constData());
        if (s->isNull())
            return sqlite3_bind_null(stmt, index);
        return sqlite3_bind_text16(stmt, index, s->utf16(), int(s->size() * qsizetype(sizeof(QChar))),
                                   SQLITE_TRANSIENT);
    }
    case QMetaType::QByteArray: {
        const QByteArray *b = static_cast<const QByteArray *>(value.constData());
        if (b->isNull())
            return sqlite3_bind_null(stmt, index);
        return sqlite3_bind_blob(stmt, index, b->constData(), int(b->size()), SQLITE_TRANSIENT);
    }
    case QMetaType::Int:
    case QMetaType::Bool:
        return sqlite3_bind_int(stmt, index, value.toInt());
    case QMetaType::Double:
        return sqlite3_bind_double(stmt, index, value.toDouble());
    case QMetaType::UInt:
    case QMetaType::LongLong:
        return sqlite3_bind_int64(stmt, index, value.toLongLong());
    default: {
        if (value.isNull())
            return sqlite3_bind_null(stmt, index);
        const QString s = value.toString();
        return sqlite3_bind_text16(stmt, index, s.utf16(), int(s.size() * qsizetype(sizeof(QChar))),
                                   SQLITE_TRANSIENT);
    }
    }
}

} // namespace

// ---------------------------------------------------------------- Statement

Statement::Statement(sqlite3_stmt *stmt, CachedQuery *cached, bool hasRow)
    : m_stmt(stmt), m_cached(cached), m_pendingRow(hasRow)
{
}

Statement::Statement(Statement &&other) noexcept
    : m_stmt(std::exchange(other.m_stmt, nullptr)),
      m_cached(std::exchange(other.m_cached, nullptr)),
      m_pendingRow(std::exchange(other.m_pendingRow, false)),
      m_onRow(std::exchange(other.m_onRow, false))
{
}

Statement &Statement::operator=(Statement &&other) noexcept
{
    if (this != &other) {
        finish();
        m_stmt = std::exchange(other.m_stmt, nullptr);
        m_cached = std::exchange(other.m_cached, nullptr);
        m_pendingRow = std::exchange(other.m_pendingRow, false);
        m_onRow = std::exchange(other.m_onRow, false);
    }
    return *this;
}

Statement::~Statement()
{
    finish();
}

void Statement::finish()
{
    if (m_stmt) {
        if (m_cached) {
            sqlite3_reset(m_stmt);
            sqlite3_clear_bindings(m_stmt);
            m_cached->busy = false;
        } else {
            sqlite3_finalize(m_stmt); // a fresh statement for a nested use
        }
    }
    m_stmt = nullptr;
    m_cached = nullptr;
    m_pendingRow = false;
    m_onRow = false;
}

bool Statement::next()
{
    if (!m_stmt)
        return false;
    if (m_pendingRow) {
        m_pendingRow = false;
        m_onRow = true;
        return true;
    }
    if (!m_onRow)
        return false; // already past the last row
    m_onRow = sqlite3_step(m_stmt) == SQLITE_ROW;
    return m_onRow;
}

QVariant Statement::variant(int i) const
{
    if (!m_onRow)
        return {};
    switch (sqlite3_column_type(m_stmt, i)) {
    case SQLITE_INTEGER:
        return QVariant(qlonglong(sqlite3_column_int64(m_stmt, i)));
    case SQLITE_FLOAT:
        return QVariant(sqlite3_column_double(m_stmt, i));
    case SQLITE_BLOB:
        return QVariant(QByteArray(static_cast<const char *>(sqlite3_column_blob(m_stmt, i)),
                                   sqlite3_column_bytes(m_stmt, i)));
    case SQLITE_NULL:
        return {};
    default: {
        const auto *text = reinterpret_cast<const QChar *>(sqlite3_column_text16(m_stmt, i));
        return QVariant(QString(text, sqlite3_column_bytes16(m_stmt, i) / qsizetype(sizeof(QChar))));
    }
    }
}

QVariant Statement::value(int i) const
{
    return variant(i);
}

bool Statement::isNull(int i) const
{
    return !m_onRow || sqlite3_column_type(m_stmt, i) == SQLITE_NULL;
}

qint64 Statement::int64(int i) const
{
    if (m_onRow && sqlite3_column_type(m_stmt, i) == SQLITE_INTEGER)
        return sqlite3_column_int64(m_stmt, i);
    return variant(i).toLongLong();
}

double Statement::real(int i) const
{
    if (m_onRow && sqlite3_column_type(m_stmt, i) == SQLITE_FLOAT)
        return sqlite3_column_double(m_stmt, i);
    return variant(i).toDouble();
}

QString Statement::text(int i) const
{
    if (m_onRow && sqlite3_column_type(m_stmt, i) == SQLITE_TEXT) {
        const auto *text = reinterpret_cast<const char *>(sqlite3_column_text(m_stmt, i));
        return QString::fromUtf8(text, sqlite3_column_bytes(m_stmt, i));
    }
    return variant(i).toString();
}

QByteArray Statement::json(int i) const
{
    if (m_onRow) {
        // Stored JSON is UTF-8 text (or, from old files, a BLOB): its bytes as they are.
        const int type = sqlite3_column_type(m_stmt, i);
        if (type == SQLITE_TEXT) {
            const auto *text = reinterpret_cast<const char *>(sqlite3_column_text(m_stmt, i));
            return QByteArray(text, sqlite3_column_bytes(m_stmt, i));
        }
        if (type == SQLITE_BLOB)
            return variant(i).toByteArray();
    }
    return variant(i).toString().toUtf8();
}

std::optional<qint64> Statement::optInt64(int i) const
{
    if (isNull(i))
        return std::nullopt;
    return int64(i);
}

std::optional<double> Statement::optReal(int i) const
{
    if (isNull(i))
        return std::nullopt;
    return real(i);
}

std::optional<QString> Statement::optText(int i) const
{
    if (isNull(i))
        return std::nullopt;
    return text(i);
}

std::optional<QByteArray> Statement::optJson(int i) const
{
    if (isNull(i))
        return std::nullopt;
    return json(i);
}

int Statement::rowsAffected() const
{
    return m_stmt ? sqlite3_changes(sqlite3_db_handle(m_stmt)) : 0;
}

// ---------------------------------------------------------------- Connection

Connection::Connection(QString name) : m_name(std::move(name)) {}

Connection::~Connection()
{
    close();
}

void Connection::close()
{
    // Every statement of ours is finalized before QSQLITE closes the handle (sqlite3_close
    // refuses a connection with live statements).
    for (const auto &[sql, c] : m_cache) {
        sqlite3_finalize(c->stmt);
        delete c;
    }
    m_cache.clear();
    m_handle = nullptr;
    if (m_db.isValid()) {
        m_db.close();
        m_db = QSqlDatabase();
        QSqlDatabase::removeDatabase(m_name);
    }
}

Result<void> Connection::open(const QString &path, int busyTimeoutMs, bool readOnly)
{
    m_path = path;
    m_db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_name);
    if (!m_db.isValid())
        return sidecar::fail(ErrorCode::Unavailable, QStringLiteral("The Qt SQLite driver (QSQLITE) is not available"));
    m_db.setDatabaseName(path);
    m_db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(busyTimeoutMs));
    if (!m_db.open())
        return tl::unexpected(toError(m_db.lastError(), QStringLiteral("open")));
    const QVariant handle = m_db.driver()->handle();
    if (qstrcmp(handle.typeName(), "sqlite3*") != 0 || !(m_handle = *static_cast<sqlite3 *const *>(handle.constData())))
        return sidecar::fail(ErrorCode::Unavailable, QStringLiteral("The Qt SQLite driver gave no sqlite3 handle"));
    if (readOnly) {
        if (auto r = exec("PRAGMA query_only=1"); !r)
            return r;
    }
    return {};
}

Error Connection::toError(const QSqlError &error, const QString &sql)
{
    return makeError(sqliteCode(error), error.text().trimmed(), sql);
}

Error Connection::toError(int rc, const char *what, std::string_view sql)
{
    // QSqlError::text(): the database's message, a space, the driver's.
    QString text = QString::fromUtf8(sqlite3_errmsg(m_handle));
    if (!text.isEmpty())
        text += u' ';
    text += QLatin1String(what);
    return makeError(rc & 0xff, text, QString::fromUtf8(sql.data(), qsizetype(sql.size())));
}

Error Connection::makeError(int code, QString text, const QString &sql)
{
    m_lastBusy = code == 5 /* SQLITE_BUSY */ || code == 6 /* SQLITE_LOCKED */;
    // Failures of the medium (busy, I/O, full disk, cannot open, corrupt, not a database) make
    // the backend unavailable; anything else is a bug in a statement.
    ErrorCode kind = ErrorCode::Internal;
    switch (code) {
    case 5:  // BUSY
    case 6:  // LOCKED
    case 7:  // NOMEM
    case 8:  // READONLY
    case 10: // IOERR
    case 11: // CORRUPT
    case 13: // FULL
    case 14: // CANTOPEN
    case 15: // PROTOCOL
    case 26: // NOTADB
        kind = ErrorCode::Unavailable;
        break;
    default:
        break;
    }
    if (text.isEmpty())
        text = QStringLiteral("unknown SQLite error");
    QString what = sql.simplified();
    if (what.size() > 80)
        what = what.left(77) + QStringLiteral("...");
    return Error{kind, QStringLiteral("SQLite: %1 (in: %2)").arg(text, what)};
}

Result<void> Connection::exec(const QString &sql)
{
    QSqlQuery q(m_db);
    q.setForwardOnly(true);
    const bool ok = q.exec(sql);
    const QSqlError err = q.lastError();
    q.finish();
    if (!ok)
        return tl::unexpected(toError(err, sql));
    m_lastBusy = false;
    return {};
}

Result<void> Connection::exec(const char *sql)
{
    auto st = queryUtf8(sql, {});
    if (!st)
        return tl::unexpected(st.error());
    return {};
}

Result<Statement> Connection::query(const QString &sql, const QVariantList &binds)
{
    const QByteArray utf8 = sql.toUtf8();
    return queryUtf8(std::string_view(utf8.constData(), std::size_t(utf8.size())), binds);
}

Result<Statement> Connection::queryUtf8(std::string_view sql, const QVariantList &binds)
{
    if (!m_handle)
        return sidecar::fail(ErrorCode::Unavailable, QStringLiteral("The SQLite connection is not open"));
    auto prepare = [&](sqlite3_stmt **out) {
        return sqlite3_prepare_v2(m_handle, sql.data(), int(sql.size()), out, nullptr);
    };
    CachedQuery *cached = nullptr;
    sqlite3_stmt *stmt = nullptr;
    if (const auto it = m_cache.find(sql); it != m_cache.end()) {
        cached = it->second;
    } else {
        if (const int rc = prepare(&stmt); rc != SQLITE_OK) {
            const Error e = toError(rc, "Unable to execute statement", sql);
            sqlite3_finalize(stmt);
            return tl::unexpected(e);
        }
        if (!stmt) // only a comment or white space
            return sidecar::fail(ErrorCode::Internal, QStringLiteral("SQLite: empty statement"));
        cached = new CachedQuery{stmt, false};
        m_cache.emplace(std::string(sql), cached);
    }
    if (cached->busy) {
        // The same statement is still being read further up the stack: use a fresh one.
        if (const int rc = prepare(&stmt); rc != SQLITE_OK) {
            const Error e = toError(rc, "Unable to execute statement", sql);
            sqlite3_finalize(stmt);
            return tl::unexpected(e);
        }
        cached = nullptr;
    } else {
        stmt = cached->stmt;
    }
    // A Statement owns the reset (cached) or finalization (fresh) from here on.
    Statement st(stmt, cached, false);
    if (cached)
        cached->busy = true;
    if (binds.size() != sqlite3_bind_parameter_count(stmt))
        return tl::unexpected(toError(SQLITE_RANGE, "Parameter count mismatch", sql));
    for (int i = 0; i < binds.size(); ++i) {
        if (const int rc = bind(stmt, i + 1, binds.at(i)); rc != SQLITE_OK)
            return tl::unexpected(toError(rc, "Unable to bind parameters", sql));
    }
    // As QSQLITE does in exec(): the first step now, so that a statement without rows has run.
    const int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return tl::unexpected(toError(rc, "Unable to fetch row", sql));
    m_lastBusy = false;
    st.m_pendingRow = rc == SQLITE_ROW;
    st.m_onRow = false;
    return st;
}

Result<qint64> Connection::scalar(const QString &sql, const QVariantList &binds, qint64 fallback)
{
    auto st = query(sql, binds);
    if (!st)
        return tl::unexpected(st.error());
    if (!st->next() || st->isNull(0))
        return fallback;
    return st->int64(0);
}

Result<void> Connection::execScript(const QString &script)
{
    for (const QString &statement : splitSqlScript(script)) {
        if (auto r = exec(statement); !r)
            return r;
    }
    return {};
}

QStringList splitSqlScript(const QString &script)
{
    QStringList out;
    QString current;
    const qsizetype n = script.size();
    for (qsizetype i = 0; i < n; ++i) {
        const QChar c = script.at(i);
        if (c == u'-' && i + 1 < n && script.at(i + 1) == u'-') {
            while (i < n && script.at(i) != u'\n')
                ++i;
            current += u'\n';
            continue;
        }
        if (c == u'/' && i + 1 < n && script.at(i + 1) == u'*') {
            i += 2;
            while (i + 1 < n && !(script.at(i) == u'*' && script.at(i + 1) == u'/'))
                ++i;
            ++i;
            current += u' ';
            continue;
        }
        if (c == u'\'' || c == u'"' || c == u'`' || c == u'[') {
            const QChar close = c == u'[' ? QChar(u']') : c;
            current += c;
            ++i;
            while (i < n) {
                current += script.at(i);
                if (script.at(i) == close) {
                    // A doubled quote is an escaped quote inside the literal.
                    if (close != u']' && i + 1 < n && script.at(i + 1) == close) {
                        current += script.at(++i);
                    } else {
                        break;
                    }
                }
                ++i;
            }
            continue;
        }
        if (c == u';') {
            const QString s = current.trimmed();
            // A trigger's body holds statements of its own: it ends at the ';' after its END.
            static const QRegularExpression trigger(QStringLiteral("^CREATE\\s+(TEMP\\s+|TEMPORARY\\s+)?TRIGGER\\b"),
                                                    QRegularExpression::CaseInsensitiveOption);
            static const QRegularExpression end(QStringLiteral("\\bEND$"), QRegularExpression::CaseInsensitiveOption);
            if (trigger.match(s).hasMatch() && !end.match(s).hasMatch()) {
                current += c;
                continue;
            }
            if (!s.isEmpty())
                out.append(s);
            current.clear();
            continue;
        }
        current += c;
    }
    const QString s = current.trimmed();
    if (!s.isEmpty())
        out.append(s);
    return out;
}

Result<void> createPrivateFile(const QString &path)
{
    const QByteArray native = QFile::encodeName(path);
    const int fd = ::open(native.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ::close(fd);
        return {};
    }
    if (errno == EEXIST)
        return {};
    return sidecar::fail(ErrorCode::Unavailable,
                         QStringLiteral("Cannot create %1: %2").arg(path, QString::fromLocal8Bit(std::strerror(errno))));
}

namespace {

Result<void> syncPath(const QString &path, int flags)
{
    const QByteArray native = QFile::encodeName(path);
    const int fd = ::open(native.constData(), flags | O_CLOEXEC);
    const bool synced = fd >= 0 && ::fsync(fd) == 0;
    const int error = errno;
    if (fd >= 0)
        ::close(fd);
    if (synced)
        return {};
    return sidecar::fail(ErrorCode::Unavailable,
                         QStringLiteral("Cannot sync %1: %2").arg(path, QString::fromLocal8Bit(std::strerror(error))));
}

} // namespace

Result<void> copyDatabaseTo(Connection &db, const QString &path)
{
    const QByteArray native = QFile::encodeName(path);
    const int fd = ::open(native.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return sidecar::fail(errno == EEXIST ? ErrorCode::InvalidArgument : ErrorCode::Unavailable,
                             QStringLiteral("Cannot create %1: %2").arg(path, QString::fromLocal8Bit(std::strerror(errno))));
    ::close(fd);
    QString quoted = path;
    quoted.replace(QLatin1Char('\''), QStringLiteral("''"));
    Result<void> done = db.exec(QStringLiteral("VACUUM INTO '") + quoted + QLatin1Char('\''));
    if (done)
        done = syncPath(path, O_RDONLY);
    if (done)
        done = syncPath(QFileInfo(path).absolutePath(), O_RDONLY | O_DIRECTORY);
    if (!done)
        QFile::remove(path);
    return done;
}

Result<bool> tableExists(Connection &db, const char *name)
{
    auto n = db.scalar(QStringLiteral("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"),
                       {bindable(name)});
    if (!n)
        return tl::unexpected(n.error());
    return *n > 0;
}

Result<int> userVersion(Connection &db)
{
    auto v = db.scalar(QStringLiteral("PRAGMA user_version"));
    if (!v)
        return tl::unexpected(v.error());
    return int(*v);
}

QString unusedPath(const QString &stem, const QString &suffix)
{
    QString path = stem + suffix;
    for (int i = 2; QFileInfo::exists(path); ++i)
        path = stem + u'-' + QString::number(i) + suffix;
    return path;
}

int sqliteCode(const QSqlError &error)
{
    bool ok = false;
    const int code = error.nativeErrorCode().toInt(&ok);
    return ok ? (code & 0xff) : -1;
}

} // namespace sidecar::store::sqlite
