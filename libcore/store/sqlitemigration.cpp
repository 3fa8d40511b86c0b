#include "sqlitemigration.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QLoggingCategory>
#include <QSet>

#include <map>

#include "protocol/json.h"
#include "store/sqliteops.h"

Q_LOGGING_CATEGORY(lcSqliteMigration, "sidecar.store.sqlite.migration")

namespace sidecar::store::sqlite {

namespace {

// version -> resource path, from ":/migrations/NNN_name.sql".
std::map<int, QString> migrationScripts()
{
    std::map<int, QString> out;
    const QDir dir(QStringLiteral(":/migrations"));
    for (const QString &file : dir.entryList({QStringLiteral("*.sql")}, QDir::Files, QDir::Name)) {
        bool ok = false;
        const int version = file.section(u'_', 0, 0).toInt(&ok);
        if (ok && version > 0)
            out.emplace(version, dir.filePath(file));
    }
    return out;
}

Result<QString> readScript(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return fail(ErrorCode::Internal, QStringLiteral("Cannot read the embedded migration %1").arg(path));
    return QString::fromUtf8(f.readAll());
}

// JSON text written by Python (", " and ": " separators) in the compact form this sidecar
// stores. Text that is not JSON at all is kept as a JSON string, so replies stay valid JSON.
QByteArray compactJson(const QString &text)
{
    const QByteArray utf8 = text.toUtf8();
    if (json::parse(utf8))
        return json::minify(std::string_view(utf8.constData(), std::size_t(utf8.size())));
    QByteArray quoted;
    json::appendQuoted(quoted, text);
    return quoted;
}

QByteArray leaseJson(const QString &holder, double expiresAt, std::int64_t fence)
{
    json::Writer w(96);
    w.beginObject().field("holder", holder).field("expires_at", expiresAt).field("fence", fence).endObject();
    return w.take();
}

Result<QString> backupOriginal(Connection &db)
{
    const QString path = unusedPath(db.path() + QStringLiteral(".bak-") +
                                    QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyyMMdd-HHmmss")));
    // Private, like the database: the copy holds everything the database does.
    TRY(copyDatabaseTo(db, path));
    return path;
}

// Converts the original package's tables (renamed legacy_*) into this schema, inside the open
// transaction. Revisions are handed out in this order: the original history rows in id order
// (kind kv, op set), then a 'set' for any live key whose last write is not in that history,
// then an 'acquire' for each live lease (its fence). The store's revision is their count.
Result<std::int64_t> importOriginal(Connection &db, const StoreOptions &options, const QSet<QString> &tables)
{
    WriteTxn t(db, options);
    TRY(t.load());
    const double now = nowSeconds();

    struct LastWrite
    {
        std::int64_t revision = 0;
        double at = 0;
        std::optional<QString> agentId;
    };
    QHash<QString, LastWrite> lastWrite;
    if (tables.contains(QStringLiteral("legacy_history"))) {
        std::vector<std::tuple<QString, QString, std::optional<QString>, std::optional<QString>, double>> rows;
        {
            TRY_ASSIGN(st, db.run("SELECT key, new_value_json, previous_value_json, agent_id, written_at FROM "
                                  "legacy_history ORDER BY id"));
            while (st.next())
                rows.emplace_back(st.text(0), st.text(1), st.optText(2), st.optText(3), st.real(4));
        }
        for (const auto &[key, newValue, previousValue, agentId, at] : rows) {
            std::optional<QByteArray> previous;
            if (previousValue)
                previous = compactJson(*previousValue);
            TRY_ASSIGN(rev, t.mutate("kv", "set", key, compactJson(newValue), previous, agentId, QString(), at));
            lastWrite.insert(key, LastWrite{rev, at, agentId});
        }
    }

    if (tables.contains(QStringLiteral("legacy_kv_store"))) {
        std::vector<std::tuple<QString, QString, std::optional<double>>> rows;
        {
            TRY_ASSIGN(st, db.run("SELECT key, value_json, expires_at FROM legacy_kv_store ORDER BY key"));
            while (st.next())
                rows.emplace_back(st.text(0), st.text(1), st.optReal(2));
        }
        for (const auto &[key, valueText, expiresAt] : rows) {
            if (expiresAt && *expiresAt <= now)
                continue; // already expired: the original would never have shown it again
            const QByteArray value = compactJson(valueText);
            LastWrite last = lastWrite.value(key);
            if (last.revision == 0) {
                TRY_ASSIGN(rev, t.mutate("kv", "set", key, value, std::nullopt, std::nullopt, QString(), now));
                last = LastWrite{rev, now, std::nullopt};
            }
            TRY(db.run("INSERT INTO kv (key, value, version, expires_at, updated_at, agent_id) VALUES (?, ?, ?, ?, ?, "
                       "?)",
                       key, value, last.revision, expiresAt, last.at, last.agentId));
        }
    }

    QHash<QString, std::pair<std::int64_t, std::pair<double, std::optional<QString>>>> runs; // run_id -> seq, ...
    if (tables.contains(QStringLiteral("legacy_workflows"))) {
        struct Run
        {
            QString runId, name, status, tagsJson;
            std::optional<QString> agentId;
            std::int64_t lastStep;
            double createdAt, updatedAt;
        };
        std::vector<Run> rows;
        {
            TRY_ASSIGN(st, db.run("SELECT run_id, name, status, tags_json, agent_id, last_step, created_at, "
                                  "updated_at FROM legacy_workflows ORDER BY created_at, rowid"));
            while (st.next())
                rows.push_back(Run{st.text(0), st.text(1), st.text(2), st.text(3), st.optText(4), st.int64(5),
                                   st.real(6), st.real(7)});
        }
        for (const Run &r : rows) {
            // The original's claims never expired, so a claimed or running run has no claim
            // deadline here: it is imported with its claim lapsed (claim_expires_at NULL), so
            // that any agent may claim it again (a new grant, attempt 2, checkpoints kept)
            // instead of it staying stuck with a holder that may be long gone.
            const bool wasClaimed = r.agentId && r.status != QLatin1String("created");
            TRY_ASSIGN(st, db.run("INSERT INTO workflows (run_id, name, status, agent_id, last_step, created_at, "
                                  "updated_at, attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
                                  r.runId, r.name, r.status, r.agentId, r.lastStep, r.createdAt, r.updatedAt,
                                  wasClaimed ? 1 : 0));
            if (!st.next())
                return fail(ErrorCode::Internal, QStringLiteral("INSERT ... RETURNING gave no row"));
            const std::int64_t seq = st.int64(0);
            st.finish();
            runs.insert(r.runId, {seq, {r.updatedAt, r.agentId}});
            const QByteArray tagsText = r.tagsJson.toUtf8();
            if (auto doc = json::parse(tagsText); doc && doc->root().isObject()) {
                int pos = 0;
                for (const json::Member &m : doc->root().members()) {
                    const QString tag = QString::fromUtf8(m.key.data(), qsizetype(m.key.size()));
                    const QString value = m.value.isString() ? m.value.toQString()
                                                             : QString::fromUtf8(m.value.compact());
                    TRY(db.run("INSERT OR REPLACE INTO run_tags (seq, tag, value, pos) VALUES (?, ?, ?, ?)", seq, tag,
                               value, pos++));
                }
            }
        }
    }

    if (tables.contains(QStringLiteral("legacy_step_outputs"))) {
        std::vector<std::tuple<QString, std::int64_t, QString>> rows;
        {
            TRY_ASSIGN(st, db.run("SELECT run_id, step, output_json FROM legacy_step_outputs ORDER BY run_id, step"));
            while (st.next())
                rows.emplace_back(st.text(0), st.int64(1), st.text(2));
        }
        for (const auto &[runId, step, output] : rows) {
            const auto it = runs.constFind(runId);
            if (it == runs.constEnd())
                continue; // a step of a run that no longer exists
            TRY(db.run("INSERT OR REPLACE INTO step_outputs (seq, step, output, written_at, agent_id, fence) VALUES "
                       "(?, ?, ?, ?, ?, NULL)",
                       it->first, step, compactJson(output), it->second.first, it->second.second));
        }
    }

    if (tables.contains(QStringLiteral("legacy_leases"))) {
        std::vector<std::tuple<QString, QString, double>> rows;
        {
            TRY_ASSIGN(st, db.run("SELECT resource_id, holder_id, expires_at FROM legacy_leases WHERE expires_at > ? "
                                  "ORDER BY rowid",
                                  now));
            while (st.next())
                rows.emplace_back(st.text(0), st.text(1), st.real(2));
        }
        for (const auto &[resourceId, holder, expiresAt] : rows) {
            const std::int64_t rev = t.nextRevision();
            TRY(t.record(rev, "lease", "acquire", resourceId, leaseJson(holder, expiresAt, rev), std::nullopt, holder,
                         QString(), now));
            TRY(db.run("INSERT INTO leases (resource_id, holder, expires_at, fence, granted_at) VALUES (?, ?, ?, ?, ?)",
                       resourceId, holder, expiresAt, rev, now));
        }
    }

    TRY(t.save());
    return t.revision();
}

Result<void> applyScript(Connection &db, int version, const QString &path)
{
    TRY_ASSIGN(script, readScript(path));
    TRY(db.execScript(script));
    TRY(db.exec(QStringLiteral("PRAGMA user_version = %1").arg(version)));
    return {};
}

} // namespace

int latestSchemaVersion()
{
    const auto scripts = migrationScripts();
    return scripts.empty() ? 0 : scripts.rbegin()->first;
}

Result<MigrationReport> migrate(Connection &db, const StoreOptions &options)
{
    const auto scripts = migrationScripts();
    if (scripts.empty())
        return fail(ErrorCode::Internal, QStringLiteral("No schema migrations are embedded in this binary"));
    const int latest = scripts.rbegin()->first;

    // What the file is, read in one snapshot: a concurrent first open by another process
    // creates the tables and sets user_version in one transaction, so both or neither show.
    TRY(db.exec("BEGIN"));
    struct Detected
    {
        int version = 0;
        bool original = false;
        std::int64_t tables = 0;
    };
    auto detected = [&]() -> Result<Detected> {
        Detected d;
        TRY_ASSIGN(v, userVersion(db));
        TRY_ASSIGN(kvStore, tableExists(db, "kv_store"));
        TRY_ASSIGN(tables, db.scalar(QStringLiteral("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                                                    "name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")));
        d.version = v;
        d.original = v == 0 && kvStore;
        d.tables = tables;
        return d;
    }();
    (void)db.exec("COMMIT");
    if (!detected)
        return tl::unexpected(detected.error());

    MigrationReport report;
    const int version = detected->version;
    report.fromVersion = version;
    if (version > latest)
        return fail(ErrorCode::Unavailable,
                    QStringLiteral("The database %1 has schema version %2, newer than this binary knows (%3): it "
                                   "was written by a newer mcp-state-sidecar. Upgrade, or use another DB_PATH.")
                        .arg(db.path())
                        .arg(version)
                        .arg(latest));

    const bool original = detected->original;
    if (version == 0 && !original && detected->tables > 0)
        return fail(ErrorCode::Unavailable,
                    QStringLiteral("The database %1 has tables but is not an mcp-state-sidecar database; refusing to "
                                   "touch it")
                        .arg(db.path()));
    if (original) {
        TRY_ASSIGN(backup, backupOriginal(db));
        report.backupPath = backup;
        qCInfo(lcSqliteMigration) << "Backed up the original package's database to" << backup;
    }

    // WAL: readers never block the writer and the writer never blocks readers.
    {
        TRY_ASSIGN(st, db.run("PRAGMA journal_mode=WAL"));
        const QString mode = st.next() ? st.text(0) : QString();
        if (mode.compare(QLatin1String("wal"), Qt::CaseInsensitive) != 0 &&
            mode.compare(QLatin1String("memory"), Qt::CaseInsensitive) != 0)
            return fail(ErrorCode::Unavailable,
                        QStringLiteral("Cannot switch %1 to WAL journal mode (got '%2')").arg(db.path(), mode));
    }

    if (original) {
        TRY(db.exec("BEGIN IMMEDIATE"));
        auto converted = [&]() -> Result<bool> {
            // Another process may have converted it while this one took the backup.
            TRY_ASSIGN(v, userVersion(db));
            TRY_ASSIGN(still, tableExists(db, "kv_store"));
            if (v != 0 || !still)
                return false;
            QSet<QString> legacy;
            for (const char *name : {"kv_store", "history", "leases", "workflows", "step_outputs", "sessions"}) {
                TRY_ASSIGN(exists, tableExists(db, name));
                if (!exists)
                    continue;
                const QString renamed = QStringLiteral("legacy_") + QLatin1String(name);
                TRY(db.exec(QStringLiteral("ALTER TABLE %1 RENAME TO %2").arg(QLatin1String(name), renamed)));
                legacy.insert(renamed);
            }
            TRY(applyScript(db, scripts.begin()->first, scripts.begin()->second));
            TRY_ASSIGN(entries, importOriginal(db, options, legacy));
            report.importedEntries = entries;
            for (const QString &table : legacy) {
                // An unknown sessions table is kept for the operator to inspect; the original
                // package had none in its SQLite file.
                if (table != QLatin1String("legacy_sessions"))
                    TRY(db.exec(QStringLiteral("DROP TABLE ") + table));
            }
            return true;
        }();
        if (!converted) {
            (void)db.exec("ROLLBACK");
            return tl::unexpected(converted.error());
        }
        TRY(db.exec("COMMIT"));
        report.importedOriginal = *converted;
        if (*converted)
            qCInfo(lcSqliteMigration) << "Converted the original package's database" << db.path() << "with"
                                      << report.importedEntries << "history entries";
    }

    for (const auto &[v, path] : scripts) {
        TRY(db.exec("BEGIN IMMEDIATE"));
        // Named captures: clang before 16 cannot capture structured bindings (the fuzz preset builds with clang 14).
        auto applied = [&, scriptVersion = v, &scriptPath = path]() -> Result<void> {
            TRY_ASSIGN(current, userVersion(db));
            if (current >= scriptVersion)
                return {}; // applied meanwhile, by this loop's import or another process
            if (current == 0)
                qCDebug(lcSqliteMigration) << "Creating the schema of" << db.path();
            else
                qCInfo(lcSqliteMigration) << "Applying schema migration" << scriptPath << "to" << db.path();
            return applyScript(db, scriptVersion, scriptPath);
        }();
        if (!applied) {
            (void)db.exec("ROLLBACK");
            return tl::unexpected(applied.error());
        }
        TRY(db.exec("COMMIT"));
    }
    TRY_ASSIGN(finalVersion, userVersion(db));
    report.toVersion = finalVersion;
    return report;
}

} // namespace sidecar::store::sqlite
