#include "sqlitebackup.h"

#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QLocale>
#include <QUuid>

#include <functional>

#include "sqlitedb.h"

namespace sidecar::store::sqlite {

namespace {

// Counts rows of the first table of `names` that exists (this schema's name, then the original
// package's), 0 when none does.
Result<qint64> countRows(Connection &db, std::initializer_list<const char *> names)
{
    for (const char *name : names) {
        auto exists = db.scalar(
            QStringLiteral("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"),
            {bindable(name)});
        if (!exists)
            return tl::unexpected(exists.error());
        if (*exists > 0)
            return db.scalar(QStringLiteral("SELECT COUNT(*) FROM \"%1\"").arg(QLatin1String(name)));
    }
    return 0;
}

Result<void> describeCopy(const QString &path, int busyTimeoutMs, BackupSummary &summary)
{
    const QString name = QStringLiteral("backup-check-") + QUuid::createUuid().toString(QUuid::WithoutBraces);
    Result<void> checked;
    {
        Connection copy(name);
        checked = copy.open(path, busyTimeoutMs, true);
        if (checked) {
            auto integrity = copy.query(QStringLiteral("PRAGMA integrity_check"));
            if (!integrity) {
                checked = tl::unexpected(integrity.error());
            } else if (integrity->next() && integrity->text(0) != QLatin1String("ok")) {
                checked = sidecar::fail(ErrorCode::Unavailable,
                                        QStringLiteral("The copy %1 failed its integrity check: %2")
                                            .arg(path, integrity->text(0)));
            }
        }
        // The first failure is kept; later reads are skipped.
        const auto value = [&](const std::function<Result<qint64>()> &read) -> qint64 {
            if (!checked)
                return 0;
            auto got = read();
            if (!got) {
                checked = tl::unexpected(got.error());
                return 0;
            }
            return *got;
        };
        summary.schemaVersion = int(
            value([&] { return copy.scalar(QStringLiteral("PRAGMA user_version")); }));
        if (summary.schemaVersion > 0)
            summary.revision = value([&] {
                return copy.scalar(QStringLiteral("SELECT value FROM meta WHERE name = 'revision'"));
            });
        summary.keys = value([&] { return countRows(copy, {"kv", "kv_store"}); });
        summary.workflows = value([&] { return countRows(copy, {"workflows"}); });
        summary.leases = value([&] { return countRows(copy, {"leases"}); });
        summary.sessions = value([&] { return countRows(copy, {"sessions"}); });
        summary.historyEntries = value([&] { return countRows(copy, {"history"}); });
        copy.close();
    }
    QSqlDatabase::removeDatabase(name);
    return checked;
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
             QString::number(leases))
        .arg(sessions)
        .arg(historyEntries);
}

Result<BackupSummary> backupDatabase(const QString &source, const QString &target, int busyTimeoutMs)
{
    QElapsedTimer clock;
    clock.start();
    const QFileInfo from(source);
    if (!from.exists() || !from.isFile())
        return fail(ErrorCode::InvalidArgument, QStringLiteral("There is no database at %1").arg(source));

    QString path = target;
    if (QFileInfo(target).isDir()) {
        const QString stamp = QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyyMMdd-HHmmss"));
        path = QDir(target).filePath(from.completeBaseName() + u'-' + stamp + u'.' + from.suffix());
        if (from.suffix().isEmpty())
            path.chop(1);
    }
    const QFileInfo to(path);
    if (to.exists() && (!to.isFile() || to.size() > 0))
        return fail(
            ErrorCode::InvalidArgument,
            QStringLiteral("%1 exists already; a backup never overwrites a file: name a new one").arg(path));
    if (!to.absoluteDir().exists())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("The directory of %1 does not exist").arg(path));
    if (to.absoluteFilePath() == from.absoluteFilePath())
        return fail(ErrorCode::InvalidArgument, QStringLiteral("The backup cannot be the database itself"));

    BackupSummary summary;
    summary.source = from.absoluteFilePath();
    summary.target = to.absoluteFilePath();
    // An empty file named by the caller is used, made private like a new one.
    const bool existedEmpty = to.exists();
    if (existedEmpty
        && !QFile::setPermissions(summary.target, QFileDevice::ReadOwner | QFileDevice::WriteOwner))
        return fail(ErrorCode::Unavailable,
                    QStringLiteral("Cannot make %1 private to its owner").arg(summary.target));
    const QString name = QStringLiteral("backup-") + QUuid::createUuid().toString(QUuid::WithoutBraces);
    Result<void> copied;
    {
        // Not query_only, which SQLite applies to VACUUM INTO's output as well: the statement
        // writes the copy only, and nothing else runs here (no migration either).
        Connection db(name);
        copied = db.open(summary.source, busyTimeoutMs);
        if (copied)
            copied = copyDatabaseTo(db, summary.target);
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
    if (copied)
        copied = describeCopy(summary.target, busyTimeoutMs, summary);
    if (!copied) {
        if (!existedEmpty)
            QFile::remove(summary.target);
        return tl::unexpected(copied.error());
    }
    summary.bytes = QFileInfo(summary.target).size();
    summary.elapsedMs = clock.elapsed();
    return summary;
}

} // namespace sidecar::store::sqlite
