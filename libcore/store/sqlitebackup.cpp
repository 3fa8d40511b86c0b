#include "sqlitebackup.h"

#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QLocale>
#include <QUuid>

#include "sqliteops.h"

namespace sidecar::store::sqlite {

namespace {

QString connectionName(const char *role)
{
    return QLatin1String(role) + QUuid::createUuid().toString(QUuid::WithoutBraces);
}

// Counts rows of the first table of `names` that exists (this schema's name, then the original
// package's), 0 when none does.
Result<qint64> countRows(Connection &db, std::initializer_list<const char *> names)
{
    for (const char *name : names) {
        TRY_ASSIGN(exists, tableExists(db, name));
        if (exists)
            return db.scalar(QStringLiteral("SELECT COUNT(*) FROM \"%1\"").arg(QLatin1String(name)));
    }
    return 0;
}

// Opens the copy on its own, checks it and counts what it holds.
Result<void> describeCopy(const QString &path, BackupSummary &summary)
{
    Connection copy(connectionName("backup-check-"));
    TRY(copy.open(path, kBusyTimeoutMs, true));
    TRY_ASSIGN(integrity, copy.query(QStringLiteral("PRAGMA integrity_check")));
    if (integrity.next() && integrity.text(0) != QLatin1String("ok"))
        return fail(
            ErrorCode::Unavailable,
            QStringLiteral("The copy %1 failed its integrity check: %2").arg(path, integrity.text(0)));
    integrity.finish();
    TRY_ASSIGN(version, userVersion(copy));
    summary.schemaVersion = version;
    if (version > 0) {
        TRY_ASSIGN(revision, copy.scalar(QStringLiteral("SELECT value FROM meta WHERE name = 'revision'")));
        summary.revision = revision;
    }
    TRY_ASSIGN(keys, countRows(copy, {"kv", "kv_store"}));
    TRY_ASSIGN(workflows, countRows(copy, {"workflows"}));
    TRY_ASSIGN(leases, countRows(copy, {"leases"}));
    TRY_ASSIGN(sessions, countRows(copy, {"sessions"}));
    TRY_ASSIGN(history, countRows(copy, {"history"}));
    summary.keys = keys;
    summary.workflows = workflows;
    summary.leases = leases;
    summary.sessions = sessions;
    summary.historyEntries = history;
    return {};
}

} // namespace

QString BackupSummary::text() const
{
    const QLocale c = QLocale::c();
    return QStringLiteral(
               "backed up %1 to %2 in %3 ms: %4, schema %5, revision %6; %7 keys, %8 workflow runs, "
               "%9 leases, %10 sessions, %11 history entries; integrity check ok")
        .arg(source, target, QString::number(elapsedMs),
             c.formattedDataSize(bytes, 1, QLocale::DataSizeIecFormat), QString::number(schemaVersion),
             QString::number(revision), QString::number(keys), QString::number(workflows),
             QString::number(leases), QString::number(sessions), QString::number(historyEntries));
}

Result<BackupSummary> backupDatabase(const QString &source, const QString &target)
{
    QElapsedTimer clock;
    clock.start();
    const QFileInfo from(source);
    if (!from.exists() || !from.isFile())
        return fail(ErrorCode::InvalidArgument, QStringLiteral("There is no database at %1").arg(source));

    QString path = target;
    if (QFileInfo(target).isDir()) {
        const QString stamp = QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyyMMdd-HHmmss"));
        const QString suffix = from.suffix().isEmpty() ? QString() : u'.' + from.suffix();
        path = unusedPath(QDir(target).filePath(from.completeBaseName() + u'-' + stamp), suffix);
    }
    const QFileInfo to(path);
    if (to.absoluteFilePath() == from.absoluteFilePath())
        return fail(ErrorCode::InvalidArgument, QStringLiteral("The backup cannot be the database itself"));
    if (to.exists() || to.isSymLink())
        return fail(
            ErrorCode::InvalidArgument,
            QStringLiteral("%1 exists already; a backup never overwrites a file: name a new one").arg(path));
    if (!to.absoluteDir().exists())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("The directory of %1 does not exist").arg(path));

    BackupSummary summary;
    summary.source = from.absoluteFilePath();
    summary.target = to.absoluteFilePath();
    {
        // Not query_only, which SQLite applies to VACUUM INTO's output as well: the statement
        // writes the copy only, and nothing else runs here (no migration either).
        Connection db(connectionName("backup-"));
        TRY(db.open(summary.source, kBusyTimeoutMs));
        TRY(copyDatabaseTo(db, summary.target)); // removes what it wrote when it fails
    }
    if (auto described = describeCopy(summary.target, summary); !described) {
        QFile::remove(summary.target);
        return tl::unexpected(described.error());
    }
    summary.bytes = QFileInfo(summary.target).size();
    summary.elapsedMs = clock.elapsed();
    return summary;
}

} // namespace sidecar::store::sqlite
